"""Item-kNN on a recency-weighted profile: movies like the ones the user watched lately."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.csr_state import csr_arrays, csr_from_state, dense_row, dense_scores
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import NotFittedError
from recsys.modeling.item_knn import ItemKNNParams, ItemKNNRecommender
from recsys.modeling.params import ModelParams, check_float, check_int
from recsys.modeling.sequences import Sequences
from recsys.modeling.state import StateArrays, require_arrays


@dataclass(frozen=True, kw_only=True)
class RecentKNNParams(ModelParams):
    """Cosine neighbours per item; how many recent items form the profile, and their decay."""

    model_type: ClassVar[str] = "recent_knn"

    k: int = 100
    last_items: int = 30
    # The k-th latest item weighs recency ** k.
    recency: float = 0.9

    def __post_init__(self) -> None:
        check_int("recent_knn", "k", self.k, low=1, high=100_000)
        check_int("recent_knn", "last_items", self.last_items, low=1, high=100_000)
        check_float("recent_knn", "recency", self.recency, low=0.0, high=1.0, low_open=True)


class RecentKNNRecommender(Recommender[RecentKNNParams]):
    """Scores = (recency-weighted latest items) @ cosine item-item similarity (top k per item)."""

    example_params: ClassVar[Mapping[str, Any]] = {"k": 20, "last_items": 10, "recency": 0.9}

    model_type: ClassVar[str] = "recent_knn"
    params_type: ClassVar[type[ModelParams]] = RecentKNNParams
    needs_sequence: ClassVar[bool] = True

    def __init__(self, params: RecentKNNParams | None = None) -> None:
        super().__init__(params)
        self._similarity: sp.csr_matrix | None = None
        self._latest = 0

    @property
    def similarity(self) -> sp.csr_matrix:
        """(items, items) float32 CSR of cosine similarities, diagonal removed."""
        if self._similarity is None:
            raise NotFittedError("recent_knn model is not fitted: call fit() or load()")
        return self._similarity

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None  # checked by fit
        knn = ItemKNNRecommender(ItemKNNParams(similarity="cosine", k=self.params.k + 1))
        similarity = knn.fit(matrix).similarity.copy()
        similarity.setdiag(0.0)  # implicit keeps each item as its own neighbour
        similarity.eliminate_zeros()
        self._similarity = sp.csr_matrix(similarity, dtype=np.float32)
        self._latest = int(np.asarray(matrix.source.timestamps).max())

    def _default_time(self) -> int:
        return self._latest + 1

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        binary = sp.csr_matrix(weighted, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        return dense_scores(binary @ self.similarity)

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        profile = sequences.recency_profile(
            self.n_items, last=self.params.last_items, decay=self.params.recency
        )
        return dense_scores(profile @ self.similarity)

    def anchor_window(self) -> tuple[int | None, float]:
        return self.params.last_items, self.params.recency

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        return (self.similarity,)

    def _similar(self, item_index: int) -> FloatArray:
        return dense_row(self.similarity, item_index)

    def _state_arrays(self) -> StateArrays:
        return {
            "similarity": csr_arrays(self.similarity),
            "timing": {"latest": np.asarray([self._latest], dtype=np.int64)},
        }

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        n = self.n_items
        self._similarity = csr_from_state(state, "similarity", shape=(n, n))
        self._latest = int(
            np.asarray(require_arrays(state, "timing", ("latest",))["latest"]).ravel()[0]
        )
