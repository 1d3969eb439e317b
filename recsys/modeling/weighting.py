"""The names of the rating weightings (``build_matrix``'s kinds), importable without numpy."""

from __future__ import annotations

from typing import Literal, get_args

WeightingKind = Literal["binary", "rating", "threshold", "confidence", "bm25"]
WEIGHTING_KINDS: tuple[str, ...] = get_args(WeightingKind)
