"""Users' histories in time order, in a model's item space: what sequence-aware models score.

A batch of histories is held CSR-like (``indptr`` over rows, then item columns, timestamps and
ratings per entry), ordered within each row by (timestamp, movie id): the order
``leave_last_out`` uses, so "the last item" means the same thing to a model and to the split.
Histories without timestamps keep the order they were given in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, InteractionMatrix, lookup


@dataclass(frozen=True)
class Sequences:
    """Each row's known history items in time order, plus the time each row is scored at."""

    indptr: npt.NDArray[np.int64]
    cols: IndexArray
    times: IdArray
    ratings: FloatArray
    # The moment recommendations are made for: the row's latest history timestamp (unknown
    # movies included), or the model's default for an empty or untimed history.
    reference_times: IdArray

    @property
    def n_rows(self) -> int:
        """Number of histories."""
        return int(self.indptr.shape[0] - 1)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Known items per row."""
        return np.diff(self.indptr)

    def rows(self) -> IndexArray:
        """Row of every entry."""
        return np.repeat(np.arange(self.n_rows), self.lengths).astype(np.intp)

    def from_end(self) -> npt.NDArray[np.int64]:
        """Position of every entry counted from its row's end (0 = latest)."""
        ends = np.repeat(self.indptr[1:], self.lengths)
        return ends - np.arange(self.cols.shape[0]) - 1

    def slice(self, start: int, stop: int) -> Sequences:
        """Rows ``start:stop``."""
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        return Sequences(
            indptr=self.indptr[start : stop + 1] - lo,
            cols=self.cols[lo:hi],
            times=self.times[lo:hi],
            ratings=self.ratings[lo:hi],
            reference_times=self.reference_times[start:stop],
        )

    def subset(self, keep: npt.NDArray[np.bool_]) -> Sequences:
        """The entries where ``keep`` holds, as ``training_sequences`` orders the rows they hold.

        For sequences built by ``training_sequences`` (every item known, ties broken by movie
        id): the kept entries are still in (row, time, movie) order, a row's reference time
        becomes its latest kept entry's, and an emptied row gets the default one past the latest
        kept time. Equal to rebuilding from the kept rows, without its sort (two_stage's base
        rows: 25M entries sorted twice more per fit).
        """
        rows = self.rows()[keep]
        times = self.times[keep]
        n_rows = self.n_rows
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        default = int(times.max()) + 1 if times.shape[0] else 0
        reference = np.full(n_rows, default, dtype=np.int64)
        filled = indptr[1:] > indptr[:-1]
        # Within a row entries are in time order: its last kept entry is its latest.
        reference[filled] = times[indptr[1:][filled] - 1]
        return Sequences(
            indptr=indptr,
            cols=self.cols[keep],
            times=times,
            ratings=self.ratings[keep],
            reference_times=reference,
        )

    def recency_profile(self, n_items: int, *, last: int, decay: float) -> sp.csr_matrix:
        """Rows x items weights ``decay ** k`` of each row's k-th latest item, for k < ``last``.

        An item seen twice keeps the weight of its latest occurrence.
        """
        back = self.from_end()
        keep = back < last
        rows = self.rows()[keep]
        cols = self.cols[keep]
        weights = np.power(decay, back[keep]).astype(np.float32)
        # Latest occurrence first so that the kept duplicate is the most recent one.
        order = np.lexsort((-weights, cols, rows))
        rows, cols, weights = rows[order], cols[order], weights[order]
        first = np.ones(rows.shape[0], dtype=np.bool_)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        return sp.csr_matrix(
            (weights[first], (rows[first], cols[first])), shape=(self.n_rows, n_items)
        )


def build_sequences(
    item_ids: IdArray,
    *,
    n_rows: int,
    rows: IndexArray,
    movie_ids: IdArray,
    ratings: FloatArray,
    times: IdArray,
    tiebreak: IdArray,
    default_time: int,
) -> Sequences:
    """Sequences from entry columns; ``tiebreak`` orders entries with equal timestamps.

    Movies not in ``item_ids`` are dropped from the items but count for the reference time.
    """
    reference = np.full(n_rows, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(reference, rows, times)
    reference = np.where(reference == np.iinfo(np.int64).min, default_time, reference)
    cols = lookup(item_ids, movie_ids)
    known = cols >= 0
    rows, cols, times, ratings, tiebreak = (
        rows[known],
        cols[known],
        times[known],
        ratings[known],
        tiebreak[known],
    )
    order = np.lexsort((tiebreak, times, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return Sequences(
        indptr=indptr,
        cols=cols[order].astype(np.intp),
        times=times[order].astype(np.int64),
        ratings=ratings[order].astype(np.float32),
        reference_times=reference,
    )


def matrix_sequences(matrix: InteractionMatrix) -> Sequences:
    """``training_sequences`` of ``matrix.source``, or the ones built with the matrix."""
    if matrix.sequences is not None:
        return matrix.sequences
    assert matrix.source is not None
    return training_sequences(matrix.source, user_ids=matrix.user_ids, item_ids=matrix.item_ids)


def training_sequences(source: Interactions, *, user_ids: IdArray, item_ids: IdArray) -> Sequences:
    """Every training user's rows in time order (row ``u`` is ``user_ids[u]``)."""
    rows = lookup(user_ids, source.user_ids)
    if np.any(rows < 0):
        raise ValueError("the matrix's source rows hold users missing from its vocabulary")
    movies = np.asarray(source.movie_ids, dtype=np.int64)
    times = np.asarray(source.timestamps, dtype=np.int64)
    return build_sequences(
        item_ids,
        n_rows=int(user_ids.shape[0]),
        rows=rows,
        movie_ids=movies,
        ratings=np.asarray(source.ratings, dtype=np.float32),
        times=times,
        tiebreak=movies,
        default_time=int(times.max()) + 1 if times.shape[0] else 0,
    )
