"""Per-request scoring over an items x items CSR kept as plain numpy arrays (no scipy per request).

Item-to-item models score a history row h as h @ M. Only the columns that the history's rows of
M reach can score, so the fast path gathers those rows' entries, sums them per column and ranks
only the columns touched: no dense catalogue-wide score vector. The sums follow scipy's
``csr @ csr`` exactly (float32 products added in row order, columns whose sum is exactly 0
dropped), so the scores are bit-identical to the batch path's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import FloatArray, IndexArray
from recsys.modeling.topk import top_k_candidates

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


def sparse_product_row(
    matrix: CSRRows, cols: IndexArray, weights: FloatArray
) -> tuple[IndexArray, FloatArray]:
    """(columns, values) of the one-row product ``weights`` (at ``cols``) @ matrix.

    The columns are sorted and exactly those where scipy's product stores a value (the sum is
    not exactly zero); each sum adds float32 products in the order of ``cols``, as scipy does.
    """
    positions, lengths = matrix.gather(cols)
    targets = matrix.indices[positions]
    products = matrix.data[positions] * np.repeat(weights, lengths)
    # Touched columns in order, and each entry's slot among them.
    touched, slot = np.unique(targets, return_inverse=True)
    sums = np.zeros(touched.shape[0], dtype=np.float32)
    np.add.at(sums, slot, products)  # unbuffered, in entry order: float32 like scipy's loop
    stored = sums != 0
    return touched[stored].astype(np.intp, copy=False), sums[stored]


def neighbourhood_top_k(
    matrix: CSRRows, cols: IndexArray, weights: FloatArray, seen: IndexArray, k: int
) -> tuple[IndexArray, FloatArray]:
    """Top-k (item indices, scores) of the history row's product with ``matrix``, ``seen`` out."""
    touched, sums = sparse_product_row(matrix, cols, weights)
    if seen.shape[0]:
        # touched is sorted: a binary search tells which of them the user has seen.
        at = np.minimum(np.searchsorted(seen, touched), seen.shape[0] - 1)
        fresh = seen[at] != touched
        touched, sums = touched[fresh], sums[fresh]
    return top_k_candidates(touched, sums, k)


def row_entries(matrix: CSRRows, row: int) -> tuple[Indices, FloatArray]:
    """(columns, values) stored in one row."""
    start, stop = int(matrix.indptr[row]), int(matrix.indptr[row + 1])
    return matrix.indices[start:stop], matrix.data[start:stop]
