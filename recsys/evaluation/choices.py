"""Names and bounds of the evaluation options and their check, importable without numpy or pandas.

The CLI builds its help from them; the modules that use them (splits, tuning, simulations)
import them from here.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

LEAVE_LAST_OUT: Final = "leave-last-out"
TEMPORAL: Final = "temporal"
RANDOM: Final = "random"
PROTOCOLS: tuple[str, ...] = (LEAVE_LAST_OUT, TEMPORAL, RANDOM)

# Metrics a search can maximise (novelty is not a quality to maximise on its own).
TUNING_METRICS: tuple[str, ...] = ("ndcg", "hr", "recall", "precision", "map", "mrr", "auc")
MAX_FOLDS: Final = 5

Feedback = Literal["all", "clicks"]
FEEDBACKS: tuple[str, ...] = get_args(Feedback)
MAX_WINDOWS: Final = 50


def check_int_option(name: str, value: object, *, low: int, high: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
