"""Arrays <-> .npz bytes, never pickled."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt


def dumps(arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """Serialise named arrays to uncompressed .npz bytes (object arrays are refused)."""
    buffer = io.BytesIO()
    savez: Any = np.savez  # numpy's stub mistakes **arrays for its allow_pickle flag
    savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def loads(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """Parse .npz bytes with ``allow_pickle=False``; raises ``ValueError`` if unreadable."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise ValueError(f"not a readable .npz file: {exc}") from exc
