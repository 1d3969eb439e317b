"""Reasons for recommendations: which movie of the user's history led to each recommended one.

Item-to-item models score a movie j by summing, over the history items i, a weight of i times
M[i, j] (transitions: how often j follows i; neighbourhoods: how similar they are). The history
item with the largest term is the anchor of "because you watched <anchor>".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, lookup
from recsys.modeling.history import History
from recsys.modeling.neighbourhood import gather_rows

NO_ANCHOR = -1

# Whatever holds M: a scipy CSR here, two_stage's CSR arrays in its serving path.
M = TypeVar("M")


def anchors(
    item_ids: IdArray,
    matrices: Sequence[M],
    history: History,
    movie_ids: npt.ArrayLike,
    *,
    last: int | None = None,
    recency: float = 1.0,
    block: Callable[[M, IndexArray, IndexArray], FloatArray] | None = None,
) -> IdArray:
    """For each of ``movie_ids``, the history movie with the largest weighted M[i, j].

    Each history item weighs 1, or, for models that score from the latest items, only the
    ``last`` latest count (by timestamp), the k-th latest weighing ``recency ** k``, as in
    their scores. ``matrices`` are tried in order: a later one only explains movies the
    earlier ones could not. ``NO_ANCHOR`` where no history item relates to the movie.
    ``block`` reads M[rows][:, cols] (default ``dense_block``; ``scipy_block`` is the reference).
    """
    read = cast(Callable[[Any, IndexArray, IndexArray], FloatArray], block or dense_block)
    targets = np.asarray(movie_ids, dtype=np.int64).ravel()
    out = np.full(targets.shape, NO_ANCHOR, dtype=np.int64)
    if not matrices:  # most models, on every request: nothing to look up
        return out
    target_cols = lookup(item_ids, targets)
    history_cols = lookup(item_ids, history.movie_ids)
    # A disliked movie (negative weight) counts against its neighbours: never a reason for one.
    known = (history_cols >= 0) & (history.ratings > 0)
    if not known.any() or not (target_cols >= 0).any():
        return out
    rows, weights = _weights(history, known, last=last, recency=recency)
    anchor_ids = history.movie_ids[rows]
    valid = np.flatnonzero(target_cols >= 0)
    for matrix in matrices:
        open_ = valid[out[valid] == NO_ANCHOR]
        if open_.size == 0:
            break
        cells = read(matrix, history_cols[rows], target_cols[open_])
        cells *= weights[:, None]
        best = np.argmax(cells, axis=0)
        found = cells[best, np.arange(open_.size)] > 0
        out[open_[found]] = anchor_ids[best[found]]
    return out


def dense_block(matrix: sp.csr_matrix, rows: IndexArray, cols: IndexArray) -> FloatArray:
    """``matrix[rows][:, cols].toarray()`` by numpy gathers over the CSR's own arrays.

    Per request this reads only the history's rows: scipy's fancy indexing built two
    matrices and a dense copy each time. ``matrix`` must be canonical (sorted, no duplicates),
    as every model's stored neighbourhood is; repeated ``rows`` or ``cols`` repeat.
    """
    positions, lengths = gather_rows(matrix.indptr, rows)
    entry_cols = matrix.indices[positions]
    # Targets sorted (np.unique's overhead is most of the cost at 10 targets): an entry's
    # slot is a binary search; a repeated target reads the first of its copies.
    targets = np.sort(cols)
    block = np.zeros((rows.shape[0], cols.shape[0]), dtype=matrix.dtype)
    if cols.shape[0] and positions.shape[0]:
        slot = np.minimum(np.searchsorted(targets, entry_cols), cols.shape[0] - 1)
        hit = np.flatnonzero(targets[slot] == entry_cols)
        owner = np.repeat(np.arange(rows.shape[0]), lengths)[hit]
        block[owner, slot[hit]] = matrix.data[positions[hit]]
    out: FloatArray = block[:, np.searchsorted(targets, cols)]
    return out


def scipy_block(matrix: sp.csr_matrix, rows: IndexArray, cols: IndexArray) -> FloatArray:
    """``dense_block`` by scipy fancy indexing: the reference it is tested against."""
    cells: FloatArray = matrix[rows][:, cols].toarray()
    return cells


def _weights(
    history: History, known: npt.NDArray[np.bool_], *, last: int | None, recency: float
) -> tuple[IdArray, npt.NDArray[np.float32]]:
    # Positions (into the history) of the items that can anchor, and their weights.
    positions = np.flatnonzero(known)
    if last is None or history.timestamps is None:
        return positions, np.ones(positions.shape[0], dtype=np.float32)
    times = history.timestamps[positions]
    # Latest first; equal times by position, later entries counting as later.
    order = np.lexsort((-positions, -times))[:last]
    weights = np.power(recency, np.arange(order.shape[0])).astype(np.float32)
    return positions[order], weights
