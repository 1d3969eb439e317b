"""Implicit-feedback ALS (implicit's CPU AlternatingLeastSquares).

Every user with a history is scored from a vector folded in from that history (a least-squares
solve against the fixed item factors, as implicit's ``recalculate_user``), not from the vector
stored at training: what a user rated or did after training changes their ranking at once, and a
user the model never saw is scored the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import NotFittedError
from recsys.modeling.latent import (
    ANN_MIN_ITEMS,
    LatentFactorRecommender,
    LatentParams,
    check_ann_min_items,
)
from recsys.modeling.params import ModelParams, check_float, check_int
from recsys.modeling.search import Choice, LogUniform, SearchSpace
from recsys.modeling.weighting import WeightingKind

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class ALSParams(LatentParams):
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
    # Catalogue size from which recommend() finds the top-k through the approximate index
    # (recsys.modeling.ann) instead of scoring every item; set it above the catalogue for
    # exact search always. From 20k items the index is cheaper per request (benchmarks/README.md).
    ann_min_items: int = ANN_MIN_ITEMS

    def __post_init__(self) -> None:
        check_ann_min_items("als", self.ann_min_items)
        check_int("als", "factors", self.factors, low=1, high=4096)
        check_float("als", "regularization", self.regularization, low=0.0)
        check_float("als", "alpha", self.alpha, low=0.0, low_open=True)
        check_int("als", "iterations", self.iterations, low=1, high=1000)
        check_int("als", "random_state", self.random_state, low=0, high=2**32 - 1)


class ALSRecommender(LatentFactorRecommender[ALSParams]):
    """Matrix factorisation; scores are user factor . item factor."""

    # ALS takes confidence weights (Hu, Koren & Volinsky).
    default_weighting: ClassVar[WeightingKind] = "confidence"
    # implicit's ALS takes a negative confidence as "disliked" (preference 0, confidence
    # |value|), in fit and in als_fold_in alike: dislikes train as negative feedback.
    learns_from_negatives: ClassVar[bool] = True
    search_space: ClassVar[SearchSpace | None] = {
        "factors": Choice((16, 32, 64, 128, 192, 256)),
        "regularization": LogUniform(1e-3, 10.0),
        # Multiplies the 1 + rating confidence weights (2..6 on 1-5 stars). From 0.5 up, so
        # that a rated movie never weighs less than an unrated one (confidence 1), the premise
        # of Hu, Koren & Volinsky's model; below it the fit inverts that premise.
        "alpha": LogUniform(0.5, 50.0),
        "iterations": Choice((10, 15, 20, 30)),
    }
    # factors=2 matches the toy data's two taste groups (extra factors only fit noise there).
    example_params: ClassVar[Mapping[str, Any]] = {
        "factors": 2,
        "iterations": 8,
        "regularization": 0.1,
        "random_state": 7,
    }

    model_type: ClassVar[str] = "als"
    params_type: ClassVar[type[ModelParams]] = ALSParams

    def __init__(self, params: ALSParams | None = None) -> None:
        super().__init__(params)
        # Y^T Y + regularization I: the part of every fold-in's system that no history changes.
        self._gram: F64 | None = None
        self._implicit: AlternatingLeastSquares | None = None

    def _fit(self, matrix: InteractionMatrix) -> None:
        # implicit advises one BLAS thread: its own threads parallelise over users/items.
        with threadpool_limits(1, "blas"):
            model = self._new_implicit()
            model.fit(matrix.user_items, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)
        self._implicit = model

    def to_implicit(self) -> AlternatingLeastSquares:
        """The equivalent implicit CPU model, with the trained factors (for cross-checks)."""
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

    def _fold_in(self, vectors: FloatArray, rows: IndexArray, weighted: sp.csr_matrix) -> None:
        # Everyone with a history is folded in from it, known users too: their trained vector
        # is a snapshot of the training data and misses whatever they did since.
        gram = self._require_gram()
        # Batches: one BLAS thread, as for BPR's fold-in (factors x factors systems are too
        # small to share). One row skips the 0.1 ms this costs: the API already runs on one.
        limits = threadpool_limits(1, "blas") if rows.size > 1 else contextlib.nullcontext()
        with limits:
            for row in rows:
                start, stop = weighted.indptr[row], weighted.indptr[row + 1]
                vectors[row] = als_fold_in(
                    self.item_factors,
                    gram,
                    weighted.indices[start:stop],
                    # implicit scales the matrix by alpha before fitting: so does the fold-in.
                    weighted.data[start:stop] * self.params.alpha,
                )

    def _fold_in_row(self, cols: IndexArray, weights: FloatArray) -> FloatArray:
        # One row runs on the caller's BLAS threads, as _fold_in does for one row.
        return als_fold_in(
            self.item_factors, self._require_gram(), cols, weights * self.params.alpha
        )

    def _set_factors(self, users: npt.ArrayLike, items: npt.ArrayLike, **extras: Any) -> None:
        super()._set_factors(users, items, **extras)
        # Once per fit or load, so a request's fold-in costs O(history x factors^2), not
        # O(catalogue x factors^2) (0.1 s at 59K movies x 64 factors).
        self._gram = fold_in_gram(self.item_factors, self.params.regularization)

    def _require_gram(self) -> F64:
        if self._gram is None:
            raise NotFittedError("als model is not fitted: call fit() or load()")
        return self._gram


def fold_in_gram(item_factors: FloatArray, regularization: float) -> F64:
    """Y^T Y + regularization I in float64: the history-independent part of ``als_fold_in``."""
    y = np.asarray(item_factors, dtype=np.float64)
    gram = y.T @ y
    gram[np.diag_indices_from(gram)] += regularization
    return gram


def als_fold_in(
    item_factors: FloatArray, gram: F64, items: IndexArray, confidence: npt.ArrayLike
) -> FloatArray:
    """One user's vector from their history, item factors fixed (implicit's recalculate_user).

    Minimises sum_i c_i (p_i - x . y_i)^2 + regularization |x|^2 over all items i, where the
    history gives c_i (its confidence, already scaled by alpha) and p_i = 1, and every other
    item has c = 1 and p = 0. The normal equations are
    (Y^T Y + regularization I + sum_hist (c_i - 1) y_i y_i^T) x = sum_hist c_i y_i; as in
    implicit, a negative confidence means "disliked": p_i = 0 and c_i = |value|.
    ``gram`` is ``fold_in_gram(item_factors, regularization)``.
    """
    c = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(item_factors[items], dtype=np.float64)
    a = gram + (y.T * (np.abs(c) - 1.0)) @ y
    b = y.T @ np.maximum(c, 0.0)
    try:
        x = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:  # singular only with regularization 0: least norm instead
        x = np.linalg.lstsq(a, b, rcond=None)[0]
    return x.astype(np.float32)
