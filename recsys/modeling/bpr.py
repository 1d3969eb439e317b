"""Bayesian Personalized Ranking (implicit's CPU BayesianPersonalizedRanking)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
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

# Fold-in works on (history x items) pair blocks of at most this many cells (32 MiB float64).
_BLOCK_CELLS = 1 << 22
_NEWTON_STEPS = 50
# Stop when a full Newton step would gain less than this (half of it, in fact) in L.
_NEWTON_TOL = 1e-8


@dataclass(frozen=True, kw_only=True)
class BPRParams(LatentParams):
    """BPR hyper-parameters (implicit's names and meanings)."""

    model_type: ClassVar[str] = "bpr"

    # Tuned by `recsys tune` on ML-100K leave-last-out (reports/tuning/README.md): validation
    # NDCG@10 0.0668 vs 0.0645 for the previous 64 / 0.01 / 0.01 / 100 (test 0.050 for both).
    factors: int = 32
    learning_rate: float = 0.00571
    regularization: float = 0.000496
    iterations: int = 200
    random_state: int = 42
    # implicit's SGD threads update shared factors without locks: more than one thread is
    # faster but makes the factors depend on thread timing, i.e. not reproducible.
    num_threads: int = 1
    # Catalogue size from which recommend() finds the top-k through the approximate index
    # (recsys.modeling.ann) instead of scoring every item; set it above the catalogue for
    # exact search always. From 20k items the index is cheaper per request (benchmarks/README.md).
    ann_min_items: int = ANN_MIN_ITEMS

    def __post_init__(self) -> None:
        check_ann_min_items("bpr", self.ann_min_items)
        check_int("bpr", "factors", self.factors, low=1, high=4096)
        check_float("bpr", "learning_rate", self.learning_rate, low=0.0, high=10.0, low_open=True)
        check_float("bpr", "regularization", self.regularization, low=0.0)
        check_int("bpr", "iterations", self.iterations, low=1, high=10_000)
        check_int("bpr", "random_state", self.random_state, low=0, high=2**32 - 1)
        check_int("bpr", "num_threads", self.num_threads, low=1, high=256)


class BPRRecommender(LatentFactorRecommender[BPRParams]):
    """Matrix factorisation trained on pairwise rankings; scores are user . item factors.

    As in implicit, both factor matrices carry one extra column: the item's bias, and a
    constant 1 for every user, so the plain dot product adds the bias.
    """

    # BPR reads only which cells are non-zero.
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {
        # Capped at 128 factors and 200 epochs: single-threaded SGD (for reproducibility)
        # makes larger trials cost 10-20 s each on ML-100K.
        "factors": Choice((32, 64, 128)),
        "learning_rate": LogUniform(0.003, 0.3),
        "regularization": LogUniform(1e-4, 0.3),
        "iterations": Choice((50, 100, 200)),
    }
    example_params: ClassVar[Mapping[str, Any]] = {
        "factors": 4,
        "iterations": 60,
        "learning_rate": 0.05,
        "random_state": 7,
    }

    model_type: ClassVar[str] = "bpr"
    params_type: ClassVar[type[ModelParams]] = BPRParams
    extra_columns: ClassVar[int] = 1  # the bias column
    folds_known_users: ClassVar[bool] = False  # too slow per request: see _fold_in

    @property
    def item_counts(self) -> FloatArray:
        """Training interactions per item: how often each was drawn as a negative."""
        return self._extra("item_counts")

    def _fit(self, matrix: InteractionMatrix) -> None:
        # implicit parallelises with its own threads: keep BLAS to one, as for ALS.
        with threadpool_limits(1, "blas"):
            model = self.to_implicit()
            model.fit(matrix.user_items, show_progress=False)
        counts = np.bincount(matrix.user_items.indices, minlength=matrix.shape[1])
        self._set_factors(model.user_factors, model.item_factors, item_counts=counts)

    def to_implicit(self) -> BayesianPersonalizedRanking:
        """The equivalent implicit CPU model (fitted factors attached once this model is)."""
        p = self.params
        # The CPU class itself: implicit's factory would pick the GPU when CUDA is present.
        model = BayesianPersonalizedRanking(
            factors=p.factors,
            learning_rate=p.learning_rate,
            regularization=p.regularization,
            iterations=p.iterations,
            random_state=p.random_state,
            num_threads=p.num_threads,
            dtype=np.float32,
        )
        if self._item_factors is not None:
            model.user_factors = self.user_factors
            model.item_factors = self.item_factors
        return model

    def _fold_in(self, vectors: FloatArray, rows: IndexArray, weighted: sp.csr_matrix) -> None:
        # implicit's BPR has no recalculate_user: fold a new user in by solving BPR's own
        # objective for that user alone, item factors held fixed (see bpr_fold_in). Known users
        # keep their trained vector (unlike ALS and SVD): the solve costs 35 ms for a median
        # ML-1M history and 0.3-0.9 s for the longest (benchmarks/fold_in.py), far over what
        # a request may spend; their new ratings are excluded but do not move the ranking.
        # Its (factors x factors) products are too small for BLAS threads: with two
        # threads on two busy cores they ran 10-80x slower than with one.
        with threadpool_limits(1, "blas"):
            for row in rows:
                start, stop = weighted.indptr[row], weighted.indptr[row + 1]
                # BPR's objective has positives only: a dislike (negative weight) is left out.
                liked = weighted.indices[start:stop][weighted.data[start:stop] > 0]
                vectors[row] = bpr_fold_in(
                    self.item_factors,
                    self.item_counts,
                    liked,
                    regularization=self.params.regularization,
                )

    def _fold_in_row(self, cols: IndexArray, weights: FloatArray) -> FloatArray:
        # Only users the model never saw get here (folds_known_users is False).
        with threadpool_limits(1, "blas"):
            return bpr_fold_in(
                self.item_factors,
                self.item_counts,
                cols[weights > 0],  # positives only, as _fold_in
                regularization=self.params.regularization,
            )

    def _extra_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"item_counts": (self.n_items,)}


def bpr_fold_in(
    item_factors: FloatArray,
    item_counts: FloatArray,
    liked: npt.ArrayLike,
    *,
    regularization: float,
) -> FloatArray:
    """A new user's (factors + 1) vector: the maximiser of BPR's objective, items held fixed.

    implicit's SGD draws a liked item uniformly from the user's history and a negative
    with probability proportional to its interaction count (skipping liked ones), and
    shrinks the user by ``regularization`` per sample. Its fixed point for one user, with
    the items fixed, maximises

        L(u) = mean_i sum_j q_j log sigmoid(s_i - s_j) - regularization / 2 |u|^2,
        s = V u + b,  i liked,  j not liked,  q_j = count_j / sum of non-liked counts,

    which is strictly concave for regularization > 0: Newton's method with a backtracking
    line search finds the unique maximiser from u = 0, deterministically.
    """
    f = item_factors.shape[1] - 1
    user = np.zeros(f + 1, dtype=np.float32)
    user[f] = 1.0
    pos = np.unique(np.asarray(liked, dtype=np.intp))
    q = np.asarray(item_counts, dtype=np.float64).copy()
    q[pos] = 0.0
    if pos.size == 0 or q.sum() <= 0:
        return user  # nothing to rank against: the bias alone orders the items
    problem = _FoldIn(
        np.asarray(item_factors[:, :f], dtype=np.float64),
        np.asarray(item_factors[:, f], dtype=np.float64),
        pos,
        q / q.sum(),
        # Without a penalty a separable history has no finite maximiser: keep a tiny one.
        max(regularization, 1e-6),
    )
    u = np.zeros(f, dtype=np.float64)
    value, grad, hess = problem.evaluate(u)
    for _ in range(_NEWTON_STEPS):
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)  # twice the predicted gain of a full step
        if decrement <= _NEWTON_TOL:
            break
        # Backtracking (Armijo). The full step is nearly always taken, so each trial point is
        # evaluated in full and, once accepted, is the next iterate's evaluation as is.
        t = 1.0
        while t >= 1e-6:
            trial = problem.evaluate(u + t * step)
            if trial[0] >= value + 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            break  # float32 pair sums cannot resolve a gain this small: at the optimum
        u = u + t * step
        value, grad, hess = trial
    user[:f] = u
    return user


class _FoldIn:
    """The fold-in objective of ``bpr_fold_in``, evaluated in blocks of liked items.

    The (liked x items) pair blocks are float32 and sigmoid is computed through tanh: numpy's
    SIMD tanh is ~10x faster than scipy's expit, and the pair terms are the whole cost.
    """

    def __init__(self, factors: F64, bias: F64, liked: IndexArray, q: F64, reg: float) -> None:
        self.factors, self.bias, self.liked, self.reg = factors, bias, liked, reg
        self.factors32 = factors.astype(np.float32)
        # Each pair's weight: uniform over liked items, q over negatives.
        self.weight = (q / liked.shape[0]).astype(np.float32)
        self.block = max(1, _BLOCK_CELLS // factors.shape[0])

    def evaluate(self, u: F64) -> tuple[float, F64, F64]:
        """L(u), its gradient and the negated Hessian (positive definite)."""
        v = self.factors
        f = v.shape[1]
        value = -0.5 * self.reg * float(u @ u)
        grad_scores = np.zeros(v.shape[0], dtype=np.float64)
        hess = np.zeros((f, f), dtype=np.float64)
        scores = (v @ u + self.bias).astype(np.float32)
        for rows in self._blocks():
            diff = scores[rows, None] - scores[None, :]
            # log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), stable for any x.
            log_sig = np.minimum(diff, 0) - np.log1p(np.exp(-np.abs(diff)))
            value += float(log_sig.sum(axis=0, dtype=np.float64) @ self.weight)
            sig = 0.5 + 0.5 * np.tanh(0.5 * diff)  # sigmoid(s_i - s_j)
            # d/ds_i and d/ds_j of log sigmoid(s_i - s_j) are +-sigmoid(s_j - s_i).
            pull = (1.0 - sig) * self.weight
            grad_scores[rows] += pull.sum(axis=1, dtype=np.float64)
            grad_scores -= pull.sum(axis=0, dtype=np.float64)
            # sum_ij w_ij s(1 - s) (v_i - v_j)(v_i - v_j)^T, expanded into three products.
            curv = pull * sig
            liked_v = v[rows]
            cross = liked_v.T @ (curv @ self.factors32).astype(np.float64)
            hess += (liked_v.T * curv.sum(axis=1, dtype=np.float64)) @ liked_v
            hess += (v.T * curv.sum(axis=0, dtype=np.float64)) @ v
            hess -= cross + cross.T
        grad = v.T @ grad_scores - self.reg * u
        hess[np.diag_indices(f)] += self.reg
        return value, grad, hess

    def _blocks(self) -> Iterator[IndexArray]:
        for start in range(0, self.liked.shape[0], self.block):
            yield self.liked[start : start + self.block]
