"""Top-k of dense score blocks, single rows and sparse candidate sets, and the ``k`` rules.

Every function here ranks by score, best first, and breaks ties by the lower item index, also
at the cut-off: among items tied with the k-th score, the lowest indices make the list. So a
dense row, the same row's finite cells given as sparse candidates, and a batch block all give
the same answer (``np.argpartition`` alone picks an arbitrary subset of a tie at the cut-off).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import BoolArray, FloatArray, IndexArray

# Batch results are padded with this id (and a -inf score) where fewer than k items qualify.
PAD_ID = -1


def top_k(scores: FloatArray, k: int) -> tuple[IndexArray, FloatArray]:
    """Row-wise top-k (indices, scores), best first, ties broken by lower index."""
    n_rows, n_cols = scores.shape
    kk = min(k, n_cols)
    if kk == 0:
        return np.zeros((n_rows, 0), np.intp), np.zeros((n_rows, 0), np.float32)
    if kk < n_cols:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        _settle_cutoff_ties(scores, part)
    else:
        part = np.broadcast_to(np.arange(n_cols), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=-1)
    return (
        np.take_along_axis(part, order, axis=1).astype(np.intp, copy=False),
        np.take_along_axis(values, order, axis=1).astype(np.float32, copy=False),
    )


def _settle_cutoff_ties(scores: FloatArray, part: npt.NDArray[np.intp]) -> None:
    # Rows where more cells tie with the k-th score than fit: argpartition kept an arbitrary
    # subset of the tie; keep the lowest indices instead (in place). Rows whose cut-off is
    # -inf are left: those cells are padding, never returned.
    kk = part.shape[1]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
    at_or_above = np.count_nonzero(scores >= kth[:, None], axis=1)
    for r in np.flatnonzero(np.isfinite(kth) & (at_or_above > kk)):
        part[r] = _row_top_set(scores[r], kk, float(kth[r]))


def _row_top_set(row: FloatArray, kk: int, kth: float) -> IndexArray:
    # The kk cells above the cut-off, then the lowest-index cells tied with it.
    above = np.flatnonzero(row > kth)
    tied = np.flatnonzero(row == kth)[: kk - above.shape[0]]
    return np.concatenate([above, tied]).astype(np.intp, copy=False)


def top_k_row(scores: FloatArray, k: int) -> tuple[IndexArray, FloatArray]:
    """Top-k (indices, scores) of one dense row, best first, -inf cells left out."""
    n = scores.shape[0]
    kk = min(k, n)
    if kk == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.float32)
    if kk < n:
        part = np.argpartition(scores, n - kk)[n - kk :]
        kth = scores[part].min()
        if np.isfinite(kth) and np.count_nonzero(scores >= kth) > kk:
            part = _row_top_set(scores, kk, float(kth))
    else:
        part = np.arange(n, dtype=np.intp)
    picked = scores[part]
    order = np.lexsort((part, -picked))
    part, picked = part[order], picked[order]
    if not np.isfinite(picked[-1]):  # -inf cells sort last: cut them off
        finite = np.isfinite(picked)
        part, picked = part[finite], picked[finite]
    return part.astype(np.intp, copy=False), picked.astype(np.float32, copy=False)


def top_k_candidates(
    candidates: IndexArray, values: FloatArray, k: int
) -> tuple[IndexArray, FloatArray]:
    """Top-k of sparse scores: ``candidates`` (unique indices, any order) scored ``values``.

    Best first, ties by lower index, -inf values left out: the same as ``top_k_row`` over the
    dense row that is ``values`` at ``candidates`` and -inf elsewhere.
    """
    n = candidates.shape[0]
    kk = min(k, n)
    if kk == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.float32)
    if kk < n:
        # The kk largest sit past position n - kk (2x faster than partitioning -values).
        part = np.argpartition(values, n - kk)[n - kk :]
        kth = float(values[part].min())
        if np.isfinite(kth) and np.count_nonzero(values >= kth) > kk:
            # More candidates tie with the k-th score than fit: the lowest indices win.
            above = np.flatnonzero(values > kth)
            tied = np.flatnonzero(values == kth)
            tied = tied[np.argsort(candidates[tied], kind="stable")[: kk - above.shape[0]]]
            part = np.concatenate([above, tied])
    else:
        part = np.arange(n, dtype=np.intp)
    picked, index = values[part], candidates[part]
    order = np.lexsort((index, -picked))
    index, picked = index[order], picked[order]
    keep = np.isfinite(picked)
    return index[keep].astype(np.intp, copy=False), picked[keep].astype(np.float32, copy=False)


def check_k(k: int) -> None:
    """``ValueError`` unless ``k`` is an integer in [1, 100000]."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100_000:
        raise ValueError(f"k must be an integer in [1, 100000], got {k!r}")


def check_allowed(allowed: BoolArray | None, n_items: int) -> None:
    """``ValueError`` unless ``allowed`` is None or one bool per item of the model."""
    if allowed is not None and (allowed.dtype != np.bool_ or allowed.shape != (n_items,)):
        raise ValueError(
            f"allowed must be a bool mask over the model's {n_items} items, "
            f"got {allowed.dtype} {allowed.shape}"
        )


def mask_candidates(
    candidates: IndexArray, values: FloatArray, allowed: BoolArray | None
) -> tuple[IndexArray, FloatArray]:
    """The candidates (and their values) that ``allowed`` keeps; all of them when None."""
    if allowed is None:
        return candidates, values
    keep = allowed[candidates]
    return candidates[keep], values[keep]
