"""Row-wise top-k of dense score blocks, and the padding and ``k`` rules of batch results."""

from __future__ import annotations

import numpy as np

from recsys.modeling.dataset import FloatArray, IndexArray

# Batch results are padded with this id (and a -inf score) where fewer than k items qualify.
PAD_ID = -1


def top_k(scores: FloatArray, k: int) -> tuple[IndexArray, FloatArray]:
    """Row-wise top-k (indices, scores), best first, ties broken by lower index."""
    n_cols = scores.shape[1]
    kk = min(k, n_cols)
    if kk == 0:
        return np.zeros((scores.shape[0], 0), np.intp), np.zeros((scores.shape[0], 0), np.float32)
    if kk < n_cols:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_cols), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=-1)
    return (
        np.take_along_axis(part, order, axis=1).astype(np.intp, copy=False),
        np.take_along_axis(values, order, axis=1).astype(np.float32, copy=False),
    )


def check_k(k: int) -> None:
    """``ValueError`` unless ``k`` is an integer in [1, 100000]."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100_000:
        raise ValueError(f"k must be an integer in [1, 100000], got {k!r}")
