"""Per-request scoring over an items x items CSR kept as plain numpy arrays (no scipy per request).

Item-to-item models score a history row h as h @ M. Only the columns that the history's rows of
M reach can score, so the fast path gathers those rows' entries, sums them per column in a
sparse accumulator (Gustavson's: scratch arrays reused across requests, only the touched cells
read and cleared) and ranks only the columns touched: no pass over the catalogue. The sums
follow scipy's ``csr @ csr`` exactly (float32 products added in row order, columns whose sum is
exactly 0 dropped), so the scores are bit-identical to the batch path's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import BoolArray, FloatArray, IndexArray
from recsys.modeling.topk import mask_candidates, top_k_candidates

I64 = npt.NDArray[np.int64]
# Column indices as scipy stores them (int32 or int64): kept as is, not copied.
Indices = npt.NDArray[np.integer[Any]]


@dataclass(frozen=True)
class CSRRows:
    """A CSR matrix's arrays (sorted column indices per row), read by numpy gathers."""

    indptr: I64
    indices: Indices
    data: FloatArray
    n_cols: int

    @classmethod
    def of(cls, matrix: sp.csr_matrix) -> CSRRows:
        """The arrays of ``matrix`` (canonical: indices sorted within rows, no duplicates).

        Views of the matrix's own arrays where their dtypes allow: no second copy in memory.
        """
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        return cls(
            indptr=np.asarray(matrix.indptr, dtype=np.int64),
            indices=matrix.indices,
            data=np.asarray(matrix.data, dtype=np.float32),
            n_cols=int(matrix.shape[1]),
        )

    def gather(self, rows: IndexArray) -> tuple[IndexArray, I64]:
        """``gather_rows`` over this matrix's ``indptr``."""
        return gather_rows(self.indptr, rows)


def gather_rows(indptr: npt.NDArray[np.integer[Any]], rows: IndexArray) -> tuple[IndexArray, I64]:
    """(positions of the rows' entries in a CSR's ``indices`` / ``data``, row by row; lengths)."""
    starts = indptr[rows].astype(np.int64, copy=False)
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    # Entry t of row r sits at starts[r] + t: one arange shifted per row.
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return (np.arange(total, dtype=np.int64) + shift).astype(np.intp, copy=False), lengths


class SparseAccumulator:
    """Per-thread scratch arrays the size of the catalogue, reused by every request.

    ``sums`` is all zeros between calls (each call clears the cells it touched), so a request
    costs O(entries gathered), not O(catalogue). Thread-local: the service scores in a pool.
    """

    def __init__(self, n_cols: int) -> None:
        self.n_cols = n_cols
        self._local = threading.local()

    def buffers(self) -> tuple[FloatArray, IndexArray]:
        """(sums: zeros, slots: any values) of this thread, made on its first call."""
        local = self._local
        if not hasattr(local, "sums"):
            local.sums = np.zeros(self.n_cols, dtype=np.float32)
            local.slots = np.zeros(self.n_cols, dtype=np.intp)
        return local.sums, local.slots


def sparse_product_row(
    matrix: CSRRows,
    cols: IndexArray,
    weights: FloatArray,
    *,
    exclude: IndexArray,
    scratch: SparseAccumulator,
) -> tuple[IndexArray, FloatArray]:
    """(columns, values) of the one-row product ``weights`` (at ``cols``) @ matrix.

    The columns (unsorted, unique) are those where scipy's product stores a value (the sum is
    not exactly zero), less ``exclude``; each sum adds float32 products in the order of
    ``cols``, as scipy's loop does, so the values are bit-identical to scipy's.
    """
    positions, lengths = matrix.gather(cols)
    targets = matrix.indices[positions]
    products = matrix.data[positions] * np.repeat(weights, lengths)
    sums, slots = scratch.buffers()
    try:
        np.add.at(sums, targets, products)  # unbuffered, in entry order: float32 like scipy
        sums[exclude] = 0  # looks like a zero sum: dropped below, as scipy drops those
        # One entry per touched column: the one whose position its slot kept (whichever
        # duplicate's write landed, exactly one of them matches).
        order = np.arange(targets.shape[0])
        slots[targets] = order
        touched = targets[slots[targets] == order].astype(np.intp, copy=False)
        values = sums[touched]
    finally:
        sums[targets] = 0  # back to all zeros for the next request on this thread
    stored = values != 0
    return touched[stored], values[stored]


def neighbourhood_top_k(
    matrix: CSRRows,
    scratch: SparseAccumulator,
    cols: IndexArray,
    weights: FloatArray,
    seen: IndexArray,
    k: int,
    *,
    allowed: BoolArray | None = None,
) -> tuple[IndexArray, FloatArray]:
    """Top-k (item indices, scores) of the history row's product with ``matrix``, ``seen`` out
    (and the items ``allowed`` rules out, before the cut)."""
    touched, sums = sparse_product_row(matrix, cols, weights, exclude=seen, scratch=scratch)
    touched, sums = mask_candidates(touched, sums, allowed)
    return top_k_candidates(touched, sums, k)


def row_entries(matrix: CSRRows, row: int) -> tuple[Indices, FloatArray]:
    """(columns, values) stored in one row."""
    start, stop = int(matrix.indptr[row]), int(matrix.indptr[row + 1])
    return matrix.indices[start:stop], matrix.data[start:stop]
