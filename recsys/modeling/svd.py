"""Truncated SVD of the weighted user-item matrix (PureSVD, Cremonesi et al. 2010)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.latent import (
    ANN_MIN_ITEMS,
    LatentFactorRecommender,
    LatentParams,
    check_ann_min_items,
)
from recsys.modeling.params import ModelParams, check_int
from recsys.modeling.search import LogUniform, SearchSpace
from recsys.modeling.weighting import WeightingKind


@dataclass(frozen=True, kw_only=True)
class SVDParams(LatentParams):
    """Rank and seed (of the solver's random start) of the truncated SVD."""

    model_type: ClassVar[str] = "svd"

    # Tuned by `recsys tune` on ML-100K leave-last-out (reports/tuning/README.md): validation
    # NDCG@10 0.0791 vs 0.0759 for the previous 64 (30-36 factors all scored above 64).
    factors: int = 36
    random_state: int = 42
    # Catalogue size from which recommend() finds the top-k through the approximate index
    # (recsys.modeling.ann) instead of scoring every item; set it above the catalogue for
    # exact search always. From 20k items the index is cheaper per request (benchmarks/README.md).
    ann_min_items: int = ANN_MIN_ITEMS

    def __post_init__(self) -> None:
        check_ann_min_items("svd", self.ann_min_items)
        check_int("svd", "factors", self.factors, low=1, high=4096)
        check_int("svd", "random_state", self.random_state, low=0, high=2**32 - 1)


class SVDRecommender(LatentFactorRecommender[SVDParams]):
    """X ~ U S V^T; scores are (U S) . V, i.e. a user's row projected onto V and back.

    ``user_factors`` is U S, ``item_factors`` is V (orthonormal columns).
    """

    # SVD of the 0/1 matrix did as well as of raw ratings (ML-100K leave-last-out HR@10
    # 0.089 vs 0.082).
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {"factors": LogUniform(4, 400, integer=True)}
    # factors=2 matches the toy data's two taste groups.
    example_params: ClassVar[Mapping[str, Any]] = {"factors": 2, "random_state": 7}

    model_type: ClassVar[str] = "svd"
    params_type: ClassVar[type[ModelParams]] = SVDParams

    @property
    def singular_values(self) -> FloatArray:
        """(factors,) float32, largest first."""
        return self._extra("singular_values")

    def _fit(self, matrix: InteractionMatrix) -> None:
        f = self.params.factors
        n_users, n_items = matrix.shape
        if f > min(n_users, n_items):
            raise ValueError(
                f"svd.factors must be at most min(users, items) = {min(n_users, n_items)} "
                f"for a {n_users} x {n_items} matrix, got {f}"
            )
        x = sp.csr_matrix(matrix.user_items, dtype=np.float64)
        # PROPACK: ~4x faster than ARPACK at 64 factors on a 1M-rating matrix (1.8 s vs 7.7 s).
        # Its start vector and internal restarts draw from this generator: seeded, reproducible.
        rng = np.random.default_rng(self.params.random_state)
        u, s, vt = svds(x, k=f, solver="propack", random_state=rng)
        order = np.argsort(-s, kind="stable")
        u, s, v = u[:, order], s[order], vt[order].T
        # Singular vectors are defined up to sign: fix it (largest |entry| of each V column
        # positive) so the stored factors do not flip between runs or platforms.
        flip = np.sign(v[np.abs(v).argmax(axis=0), np.arange(f)])
        flip[flip == 0] = 1.0
        u, v = u * flip, v * flip
        self._set_factors(u * s, v, singular_values=s)

    def _fold_in(self, vectors: FloatArray, rows: IndexArray, weighted: sp.csr_matrix) -> None:
        # Everyone with a history is folded in from it, known users too, so what they rated
        # after training counts. Exact for SVD: a training row x gives x V = U S, its stored
        # factors, so an unchanged history scores as at training.
        vectors[rows] = np.asarray(weighted[rows] @ self.item_factors, dtype=np.float32)

    def _fold_in_row(self, cols: IndexArray, weights: FloatArray) -> FloatArray:
        # weights @ V[cols] as scipy's csr @ dense adds it up: float32 products summed in
        # history order (cumsum is sequential), so the vector is bit-identical to _fold_in's.
        terms = weights[:, None] * self.item_factors[cols]
        vector: FloatArray = np.cumsum(terms, axis=0, dtype=np.float32)[-1]
        return vector

    def _similarity_factors(self) -> FloatArray:
        # Cosine between the items' columns of the rank-f reconstruction U S V^T, which is
        # cosine over the rows of V S (U's columns are orthonormal).
        return self.item_factors * self.singular_values

    def _extra_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"singular_values": (self.params.factors,)}
