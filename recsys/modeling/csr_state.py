"""Scipy CSR helpers: a matrix <-> the plain arrays of one .npz file (no pickle, checked on
load), and sparse scores as the dense rows ``Recommender._score`` returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import FloatArray
from recsys.modeling.errors import ModelStateError
from recsys.modeling.state import Arrays, require_arrays


def csr_arrays(matrix: sp.csr_matrix) -> Arrays:
    """``data``, ``indices``, ``indptr`` and ``shape`` of a CSR matrix."""
    return {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def csr_from_state(
    state: Mapping[str, Mapping[str, npt.NDArray[Any]]], name: str, *, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The float32 CSR matrix stored as ``name``.npz; ``ModelStateError`` if malformed."""
    arrays = require_arrays(state, name, ("data", "indices", "indptr", "shape"))
    stored = tuple(int(v) for v in np.asarray(arrays["shape"]).ravel())
    if stored != shape:
        raise ModelStateError(f"{name}.npz: shape {stored} does not match the expected {shape}")
    try:
        matrix = sp.csr_matrix(
            (
                np.asarray(arrays["data"], dtype=np.float32),
                np.asarray(arrays["indices"]),
                np.asarray(arrays["indptr"]),
            ),
            shape=shape,
        )
        matrix.check_format(full_check=True)
    except ValueError as exc:
        raise ModelStateError(f"{name}.npz: not a valid CSR matrix: {exc}") from exc
    return matrix


def dense_scores(product: sp.spmatrix) -> FloatArray:
    """Dense float32 scores of a sparse product; cells nothing links to are -inf."""
    coo = sp.coo_matrix(product)
    scores = np.full(coo.shape, -np.inf, dtype=np.float32)
    scores[coo.row, coo.col] = coo.data
    return scores


def dense_row(matrix: sp.csr_matrix, index: int) -> FloatArray:
    """Row ``index`` of an items x items CSR as dense float32; -inf where it stores nothing."""
    # The row's slice of the CSR's own arrays: scipy's matrix[index] builds a matrix per call.
    start, stop = int(matrix.indptr[index]), int(matrix.indptr[index + 1])
    scores = np.full(matrix.shape[1], -np.inf, dtype=np.float32)
    scores[matrix.indices[start:stop]] = matrix.data[start:stop]
    return scores
