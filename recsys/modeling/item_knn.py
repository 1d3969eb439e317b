"""Item-item nearest neighbours (implicit's Cosine / BM25 / ItemItem recommenders)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    ItemItemRecommender,
    bm25_weight,
    normalize,
)

from recsys.modeling.base import HistoryRow, Recommender
from recsys.modeling.csr_state import csr_arrays, csr_from_state, dense_row, dense_scores
from recsys.modeling.dataset import BoolArray, FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import NotFittedError
from recsys.modeling.neighbourhood import CSRRows, SparseAccumulator, neighbourhood_top_k
from recsys.modeling.params import ModelParams, check_choice, check_float, check_int
from recsys.modeling.search import MIN_NEIGHBOURS, Choice, LogUniform, SearchSpace, Uniform
from recsys.modeling.state import StateArrays
from recsys.modeling.weighting import WeightingKind

Similarity = Literal["cosine", "bm25", "itemitem"]
SIMILARITIES: tuple[str, ...] = get_args(Similarity)


@dataclass(frozen=True, kw_only=True)
class ItemKNNParams(ModelParams):
    """Item-kNN hyper-parameters."""

    model_type: ClassVar[str] = "item_knn"

    similarity: Similarity = "cosine"
    # Neighbours kept per item.
    # Tuned by `recsys tune` on ML-100K leave-last-out, searched from 20 up so lists are not
    # cut short (reports/tuning/README.md): validation NDCG@10 0.0638 vs 0.0618 for 50.
    k: int = 22
    # BM25Recommender's K1 and B; used only when similarity == "bm25".
    bm25_k1: float = 1.2
    bm25_b: float = 0.75

    def __post_init__(self) -> None:
        check_choice("item_knn", "similarity", self.similarity, SIMILARITIES)
        check_int("item_knn", "k", self.k, low=1, high=100_000)
        check_float("item_knn", "bm25_k1", self.bm25_k1, low=0.0, low_open=True)
        check_float("item_knn", "bm25_b", self.bm25_b, low=0.0, high=1.0)


class ItemKNNRecommender(Recommender[ItemKNNParams]):
    """Scores are history @ item-item similarity (each item keeps its k nearest neighbours)."""

    # Item-kNN applies its own cosine/BM25 normalisation to 0/1 input.
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {
        "similarity": Choice(("cosine", "bm25", "itemitem")),
        "k": LogUniform(MIN_NEIGHBOURS, 1000, integer=True),
        "bm25_k1": LogUniform(0.1, 10.0),
        "bm25_b": Uniform(0.0, 1.0),
    }
    example_params: ClassVar[Mapping[str, Any]] = {"similarity": "cosine", "k": 20}

    model_type: ClassVar[str] = "item_knn"
    params_type: ClassVar[type[ModelParams]] = ItemKNNParams

    def __init__(self, params: ItemKNNParams | None = None) -> None:
        super().__init__(params)
        self._similarity: sp.csr_matrix | None = None
        # The same matrix as numpy arrays, for the per-request path (set with it).
        self._rows: CSRRows | None = None
        self._scratch = SparseAccumulator(0)

    @property
    def similarity(self) -> sp.csr_matrix:
        """(items, items) float32 CSR; row i holds item i's neighbours (itself included)."""
        if self._similarity is None:
            raise NotFittedError("item_knn model is not fitted: call fit() or load()")
        return self._similarity

    def to_implicit(self) -> ItemItemRecommender:
        """An implicit recommender of the matching class over this similarity matrix."""
        model = self._implicit_model()
        # __setstate__ is implicit's own way to attach a similarity matrix and build its
        # scorer (which takes float64 similarities).
        model.__setstate__({**model.__dict__, "similarity": self.similarity.astype(np.float64)})
        return model

    def _fit(self, matrix: InteractionMatrix) -> None:
        p = self.params
        counts = matrix.user_items.astype(np.float64)  # implicit's all_pairs_knn wants float64
        # The weighting Cosine/BM25Recommender.fit apply, handed over as CSR: they pass COO on,
        # which costs a conversion and a ParameterWarning.
        if p.similarity == "cosine":
            weighted = normalize(counts.T).T
        elif p.similarity == "bm25":
            weighted = bm25_weight(counts.T, p.bm25_k1, p.bm25_b).T
        else:
            weighted = counts
        model = ItemItemRecommender(K=p.k)
        model.fit(sp.csr_matrix(weighted), show_progress=False)
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        similarity.sort_indices()
        self._set_similarity(similarity)

    def _implicit_model(self) -> ItemItemRecommender:
        p = self.params
        if p.similarity == "bm25":
            return BM25Recommender(K=p.k, K1=p.bm25_k1, B=p.bm25_b)
        if p.similarity == "cosine":
            return CosineRecommender(K=p.k)
        return ItemItemRecommender(K=p.k)

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # Items no history item links to stay -inf (implicit's scorer never returns them).
        return dense_scores(weighted @ self.similarity)

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        return (self.similarity,)

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        # Only the neighbours of the history's items can score: rank just those.
        if self._rows is None:
            raise NotFittedError("item_knn model is not fitted: call fit() or load()")
        return neighbourhood_top_k(
            self._rows, self._scratch, row.cols, row.weights, row.seen, k, allowed=allowed
        )

    def _similar(self, item_index: int) -> FloatArray:
        return dense_row(self.similarity, item_index)

    def _set_similarity(self, similarity: sp.csr_matrix) -> None:
        self._similarity = similarity
        self._scratch = SparseAccumulator(int(similarity.shape[1]))
        self._rows = CSRRows.of(similarity)

    def _state_arrays(self) -> StateArrays:
        return {"similarity": csr_arrays(self.similarity)}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        n = self.n_items
        self._set_similarity(csr_from_state(state, "similarity", shape=(n, n)))
