"""What ``two_stage``'s one-request path reads: CSR arrays gathered with numpy, and one
history in the item space (see recsys.modeling.two_stage.serving)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import IdArray, IndexArray, lookup
from recsys.modeling.history import History
from recsys.modeling.sequences import Sequences

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Item-item matrices of catalogues up to this size are also kept dense (64 MiB of float32 at
# most): a request then reads a few whole rows instead of gathering scattered CSR entries
# (ML-100K: ~10x less time). Bigger catalogues gather from the CSR arrays.
DENSE_ITEMS = 4096


@dataclass(frozen=True)
class CSRArrays:
    """A float32 items x items CSR as plain arrays (no scipy object per request)."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.integer[Any]]  # scipy's own (int32 below 2**31 entries)
    data: F32
    n_cols: int
    # The same matrix dense (small catalogues, ``DENSE_ITEMS``), else None.
    dense: F32 | None = None

    @classmethod
    def of(cls, matrix: sp.csr_matrix) -> CSRArrays:
        """The arrays of ``matrix`` with sorted, distinct column indices per row (shared with
        ``matrix`` when it is already so: at 25M rows these matrices are ~1 GB)."""
        canonical = sp.csr_matrix(matrix, dtype=np.float32)
        if not canonical.has_canonical_format:
            canonical = canonical.copy()
            canonical.sum_duplicates()
        dense = None
        if max(canonical.shape) <= DENSE_ITEMS:
            dense = np.ascontiguousarray(canonical.toarray(), dtype=np.float32)
        return cls(
            indptr=canonical.indptr.astype(np.int64, copy=False),
            indices=canonical.indices,
            data=canonical.data,
            n_cols=int(canonical.shape[1]),
            dense=dense,
        )

    def entries(self, rows: IndexArray) -> npt.NDArray[np.int64]:
        """Positions in ``indices``/``data`` of every entry of ``rows``, row by row, in order."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # arange(total) shifted per row so that row r's block starts at its indptr.
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        out: npt.NDArray[np.int64] = np.arange(total, dtype=np.int64) + shift
        return out

    def block(self, rows: IndexArray, cols: IndexArray) -> F32:
        """Dense ``self[rows][:, cols]`` (rows and cols may repeat), float32."""
        if self.dense is not None:
            out: F32 = self.dense[rows][:, cols]
            return out
        block = np.zeros((rows.shape[0], cols.shape[0]), dtype=np.float32)
        if rows.shape[0] == 0 or cols.shape[0] == 0:
            return block
        # Column -> its places among ``cols``; a repeated column takes every place.
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        at = self.entries(rows)
        entry_rows = np.repeat(np.arange(rows.shape[0]), self.indptr[rows + 1] - self.indptr[rows])
        found = self.indices[at]
        lo = np.searchsorted(sorted_cols, found, side="left")
        hi = np.searchsorted(sorted_cols, found, side="right")
        hits = hi - lo
        entry = np.repeat(np.arange(found.shape[0]), hits)
        place = order[
            np.repeat(lo, hits)
            + np.arange(entry.shape[0])
            - np.repeat(np.cumsum(hits) - hits, hits)
        ]
        block[entry_rows[entry], place] = self.data[at[entry]]
        return block

    def weighted_row_sum(self, rows: IndexArray, weights: F32) -> F32:
        """Dense ``sum_r weights[r] * self[rows[r]]``, -inf where no row stores anything.

        As scipy's CSR @ CSR (``csr_matmat``): float32 products added per column in the order
        of ``rows``, and columns whose sum is exactly 0 dropped (-inf here). The dense copy
        adds the same products plus exact zeros (x + 0 = x); stored values are positive, so
        a zero sum means "nothing stored".
        """
        if self.dense is not None:
            if rows.shape[0] == 0:
                return np.full(self.n_cols, -np.inf, dtype=np.float32)
            products = weights[:, None] * self.dense[rows]
            total = np.add.reduce(products, axis=0, dtype=np.float32)
            dense_scores: F32 = np.where(total != 0, total, np.float32(-np.inf))
            return dense_scores
        at = self.entries(rows)
        cols = self.indices[at]
        products = np.repeat(weights, self.indptr[rows + 1] - self.indptr[rows]) * self.data[at]
        sums = np.zeros(self.n_cols, dtype=np.float32)
        np.add.at(sums, cols, products)
        scores = np.full(self.n_cols, -np.inf, dtype=np.float32)
        touched = np.unique(cols)
        touched = touched[sums[touched] != 0]
        scores[touched] = sums[touched]
        return scores


@dataclass(frozen=True)
class OneHistory:
    """One request's history in the model's item space (``Sequences`` with one row)."""

    cols: IndexArray  # time order, known items only
    times: npt.NDArray[np.int64]
    ratings: F32
    reference_time: int
    # Distinct history items (sorted) and their summed raw ratings: the batch path's raw CSR row.
    seen: IndexArray
    seen_ratings: F32

    @classmethod
    def of(cls, history: History, item_ids: IdArray, *, default_time: int) -> OneHistory:
        """``history_sequences`` for one history: known movies in (time, movie id) order, or
        in the given order when untimed; the reference time counts unknown movies too."""
        n = len(history)
        if history.timestamps is not None:
            times, tiebreak = history.timestamps, history.movie_ids
        else:
            times = np.full(n, default_time, dtype=np.int64)
            tiebreak = np.arange(n, dtype=np.int64)
        reference = int(times.max()) if n else default_time
        cols = lookup(item_ids, history.movie_ids)
        known = cols >= 0
        cols, times, ratings, tiebreak = (
            cols[known],
            times[known],
            history.ratings[known],
            tiebreak[known],
        )
        order = np.lexsort((tiebreak, times))
        return cls.of_row(
            cols[order].astype(np.intp),
            times[order].astype(np.int64),
            ratings[order].astype(np.float32),
            reference,
        )

    @classmethod
    def of_row(
        cls, cols: IndexArray, times: npt.NDArray[np.int64], ratings: F32, reference_time: int
    ) -> OneHistory:
        """From one row's entries in time order."""
        seen, seen_ratings = cols, ratings
        if cols.shape[0] > 1:
            order = np.argsort(cols, kind="stable")
            sorted_cols = cols[order]
            first = np.flatnonzero(np.r_[True, sorted_cols[1:] != sorted_cols[:-1]])
            seen = sorted_cols[first]
            seen_ratings = np.add.reduceat(ratings[order], first).astype(np.float32)
        return cls(
            cols=cols,
            times=times,
            ratings=ratings,
            reference_time=reference_time,
            seen=seen,
            seen_ratings=seen_ratings,
        )

    def key(self, user_index: int) -> bytes:
        """Bytes that fix everything a ranking of this history for ``user_index`` reads."""
        # cols, times and ratings have one entry each per history item: 20 bytes an item,
        # so the length fixes where each part ends.
        head = np.array([user_index, self.reference_time], dtype=np.int64).tobytes()
        return (
            head
            + self.cols.astype(np.int64, copy=False).tobytes()
            + self.times.astype(np.int64, copy=False).tobytes()
            + self.ratings.astype(np.float32, copy=False).tobytes()
        )

    def sequences(self) -> Sequences:
        """The same row as a one-row ``Sequences`` (plain arrays)."""
        return Sequences(
            indptr=np.array([0, self.cols.shape[0]], dtype=np.int64),
            cols=self.cols,
            times=self.times,
            ratings=self.ratings,
            reference_times=np.array([self.reference_time], dtype=np.int64),
        )

    def recent(self, last: int, decay: float) -> tuple[IndexArray, F32]:
        """``Sequences.recency_profile``'s one row: (items ascending, weight of latest sighting)."""
        back = np.arange(self.cols.shape[0] - 1, -1, -1, dtype=np.int64)
        keep = back < last
        cols = self.cols[keep]
        weights = np.power(decay, back[keep]).astype(np.float32)
        order = np.lexsort((-weights, cols))
        cols, weights = cols[order], weights[order]
        first = np.ones(cols.shape[0], dtype=np.bool_)
        first[1:] = cols[1:] != cols[:-1]
        return cols[first], weights[first]
