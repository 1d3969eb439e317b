"""A scipy CSR matrix <-> the plain arrays of one .npz file (no pickle, checked on load)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import Arrays, _arrays
from recsys.modeling.errors import ModelStateError


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
    arrays = _arrays(state, name, ("data", "indices", "indptr", "shape"))
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
