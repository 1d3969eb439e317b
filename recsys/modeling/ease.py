"""EASE^R (Steck 2019): a closed-form, dense item-item linear autoencoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.params import ModelParams, check_float, check_int
from recsys.modeling.search import LogUniform, SearchSpace
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.weighting import WeightingKind


@dataclass(frozen=True, kw_only=True)
class EASEParams(ModelParams):
    """The L2 penalty, and the catalogue size above which fitting is refused."""

    model_type: ClassVar[str] = "ease"

    # lambda in Steck's paper. Tuned by `recsys tune` on ML-100K leave-last-out
    # (reports/tuning/README.md): validation NDCG@10 0.0794 vs 0.0769 for the previous 250;
    # anything from ~100 to 500 is within noise.
    l2: float = 153.0
    # The weights are a dense items x items matrix: 20k items is 1.6 GB of float32 to serve
    # and ~7.5 GB to fit.
    max_items: int = 20_000

    def __post_init__(self) -> None:
        check_float("ease", "l2", self.l2, low=0.0, low_open=True)
        check_int("ease", "max_items", self.max_items, low=1, high=100_000)


class EASERecommender(Recommender[EASEParams]):
    """B = argmin ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0; scores = history @ B."""

    # EASE is defined on 0/1 data.
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {"l2": LogUniform(10.0, 5000.0)}
    example_params: ClassVar[Mapping[str, Any]] = {"l2": 10.0}

    model_type: ClassVar[str] = "ease"
    params_type: ClassVar[type[ModelParams]] = EASEParams

    def __init__(self, params: EASEParams | None = None) -> None:
        super().__init__(params)
        self._weights: FloatArray | None = None

    @property
    def weights(self) -> FloatArray:
        """(items, items) float32 B; row i is what having item i adds to every item's score."""
        if self._weights is None:
            raise NotFittedError("ease model is not fitted: call fit() or load()")
        return self._weights

    def _fit(self, matrix: InteractionMatrix) -> None:
        n_items = matrix.shape[1]
        if n_items > self.params.max_items:
            raise ValueError(
                f"ease: {n_items:,} items exceed ease.max_items = {self.params.max_items:,}; "
                f"its dense item-item weights would take {_memory(n_items, 4)} (float32) and "
                f"fitting ~{_memory(n_items, 20)} (two float64 copies and the result). "
                "Raise max_items if the machine has the memory, or use item_knn / cooccurrence"
            )
        self._weights = ease_weights(matrix.user_items, l2=self.params.l2)

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        scores: FloatArray = np.asarray(weighted @ self.weights, dtype=np.float32)
        return scores

    def _similar(self, item_index: int) -> FloatArray:
        row: FloatArray = self.weights[item_index].copy()
        return row

    def _state_arrays(self) -> StateArrays:
        return {"ease": {"weights": self.weights}}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        weights = np.ascontiguousarray(
            require_arrays(state, "ease", ("weights",))["weights"], dtype=np.float32
        )
        if weights.shape != (self.n_items, self.n_items):
            raise ModelStateError(
                f"ease.npz: weights has shape {weights.shape}, "
                f"expected ({self.n_items}, {self.n_items})"
            )
        self._weights = weights


def ease_weights(user_items: sp.csr_matrix, *, l2: float) -> FloatArray:
    """Steck's closed form: P = (X^T X + l2 I)^-1, B = -P / diag(P), diag(B) = 0."""
    x = sp.csr_matrix(user_items, dtype=np.float64)
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    precision = _spd_inverse(gram)
    del gram  # now holds the Cholesky factor: free it before the float32 copy
    # Column j divided by -P_jj, in place: at 20k items every extra float64 copy is 3.2 GB.
    precision /= -np.diag(precision).copy()
    np.fill_diagonal(precision, 0.0)
    # C order: cho_solve answers in Fortran order, and a scipy sparse @ dense product copies a
    # non-C-contiguous right-hand side (11 MB per ML-100K request, ~2x its scoring time).
    return precision.astype(np.float32, order="C")


def _spd_inverse(gram: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # X^T X + l2 I is symmetric positive definite: Cholesky, then solve against I.
    factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
    identity = np.eye(gram.shape[0])
    inverse: npt.NDArray[np.float64] = scipy.linalg.cho_solve(
        factor, identity, overwrite_b=True, check_finite=False
    )
    return inverse


def _memory(n_items: int, bytes_per_cell: int) -> str:
    size = n_items * n_items * bytes_per_cell
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"
