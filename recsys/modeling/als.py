"""Implicit-feedback ALS (implicit's CPU AlternatingLeastSquares)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recsys.modeling.base import Recommender, StateArrays, _arrays
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.factors import cosine_to
from recsys.modeling.params import ModelParams, check_float, check_int


@dataclass(frozen=True, kw_only=True)
class ALSParams(ModelParams):
    """ALS hyper-parameters (implicit's names and meanings)."""

    model_type: ClassVar[str] = "als"

    # Tuned by `recsys tune` on ML-100K leave-last-out (reports/tuning/README.md): validation
    # NDCG@10 0.0771 vs 0.0759 for implicit's 0.01 / 1.0 / 15 (test 0.044 vs 0.045: a plateau).
    factors: int = 64
    regularization: float = 0.0665
    # implicit multiplies the whole matrix by alpha before fitting (on top of the weighting).
    alpha: float = 0.779
    iterations: int = 30
    random_state: int = 42

    def __post_init__(self) -> None:
        check_int("als", "factors", self.factors, low=1, high=4096)
        check_float("als", "regularization", self.regularization, low=0.0)
        check_float("als", "alpha", self.alpha, low=0.0, low_open=True)
        check_int("als", "iterations", self.iterations, low=1, high=1000)
        check_int("als", "random_state", self.random_state, low=0, high=2**32 - 1)


class ALSRecommender(Recommender[ALSParams]):
    """Matrix factorisation; scores are user factor . item factor."""

    model_type: ClassVar[str] = "als"
    params_type: ClassVar[type[ModelParams]] = ALSParams

    def __init__(self, params: ALSParams | None = None) -> None:
        super().__init__(params)
        self._user_factors: FloatArray | None = None
        self._item_factors: FloatArray | None = None
        self._implicit: AlternatingLeastSquares | None = None

    @property
    def user_factors(self) -> FloatArray:
        """(users, factors) float32, rows in ``user_ids`` order."""
        return self._factors(self._user_factors)

    @property
    def item_factors(self) -> FloatArray:
        """(items, factors) float32, rows in ``item_ids`` order."""
        return self._factors(self._item_factors)

    def _fit(self, matrix: InteractionMatrix) -> None:
        # implicit advises one BLAS thread: its own threads parallelise over users/items.
        with threadpool_limits(1, "blas"):
            model = self._new_implicit()
            model.fit(matrix.user_items, show_progress=False)
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._implicit = model

    def to_implicit(self) -> AlternatingLeastSquares:
        """The equivalent implicit CPU model (for fold-in and cross-checks)."""
        if self._implicit is None:
            with threadpool_limits(1, "blas"):
                model = self._new_implicit()
            model.user_factors = self.user_factors
            model.item_factors = self.item_factors
            self._implicit = model
        return self._implicit

    def _new_implicit(self) -> AlternatingLeastSquares:
        p = self.params
        # The CPU class itself: implicit's factory would pick the GPU when CUDA is present.
        return AlternatingLeastSquares(
            factors=p.factors,
            regularization=p.regularization,
            alpha=p.alpha,
            iterations=p.iterations,
            random_state=p.random_state,
            dtype=np.float32,
        )

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        vectors = np.zeros((user_index.shape[0], self.params.factors), dtype=np.float32)
        known = user_index >= 0
        vectors[known] = self.user_factors[user_index[known]]
        # Users unseen at training but with history: fold in (implicit's recalculate_user,
        # a least-squares solve against the fixed item factors).
        fold = np.flatnonzero(~known & (np.diff(weighted.indptr) > 0))
        if fold.size:
            rows = sp.csr_matrix(weighted[fold], dtype=np.float32)
            vectors[fold] = self.to_implicit().recalculate_user(np.arange(fold.size), rows)
        scorable = known.copy()
        scorable[fold] = True
        scores: FloatArray = vectors @ self.item_factors.T
        scores[~scorable] = -np.inf
        return scores

    def _similar(self, item_index: int) -> FloatArray:
        # Cosine over item factors, as implicit's similar_items.
        factors = self.item_factors
        return cosine_to(factors, item_index)

    def _state_arrays(self) -> StateArrays:
        return {"factors": {"user_factors": self.user_factors, "item_factors": self.item_factors}}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        arrays = _arrays(state, "factors", ("user_factors", "item_factors"))
        users = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        items = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        f = self.params.factors
        if users.shape != (self.n_users, f) or items.shape != (self.n_items, f):
            raise ModelStateError(
                f"factors.npz: user_factors {users.shape} / item_factors {items.shape} do not "
                f"match {self.n_users} users, {self.n_items} items and {f} factors"
            )
        self._user_factors, self._item_factors = users, items

    def _factors(self, value: FloatArray | None) -> FloatArray:
        if value is None:
            raise NotFittedError("als model is not fitted: call fit() or load()")
        return value
