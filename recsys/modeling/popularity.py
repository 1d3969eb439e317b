"""Most-popular baseline, and the fallback for users a model has not seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import HistoryRow, Recommender
from recsys.modeling.dataset import (
    BoolArray,
    FloatArray,
    IndexArray,
    InteractionMatrix,
    sorted_contains,
)
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.params import ModelParams
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.weighting import WeightingKind

# Matrix entries counted per bincount call in fit (see _fit).
_COUNT_SLICE = 1 << 20


@dataclass(frozen=True, kw_only=True)
class PopularityParams(ModelParams):
    """Popularity has no hyper-parameters."""

    model_type: ClassVar[str] = "popularity"


class PopularityRecommender(Recommender[PopularityParams]):
    """Ranks movies by how many users interacted with them (after weighting/threshold)."""

    # Popularity counts every interaction once.
    default_weighting: ClassVar[WeightingKind] = "binary"

    model_type: ClassVar[str] = "popularity"
    params_type: ClassVar[type[ModelParams]] = PopularityParams
    personalised: ClassVar[bool] = False

    def __init__(self, params: PopularityParams | None = None) -> None:
        super().__init__(params)
        self._counts: FloatArray | None = None
        # Item indices by count, highest first, ties by lower index: top_k's order, once.
        self._ranking: IndexArray | None = None

    @property
    def counts(self) -> FloatArray:
        """Interactions per movie, in ``item_ids`` order."""
        if self._counts is None:
            raise NotFittedError("popularity model is not fitted: call fit() or load()")
        return self._counts

    def _fit(self, matrix: InteractionMatrix) -> None:
        # bincount casts its input to intp: over the whole int32 column that is a copy of
        # 8 B/row (200 MB at 25M, the training job's peak); slices keep it to a few MiB.
        indices = matrix.user_items.indices
        counts = np.zeros(matrix.shape[1], dtype=np.int64)
        for start in range(0, indices.shape[0], _COUNT_SLICE):
            counts += np.bincount(indices[start : start + _COUNT_SLICE], minlength=matrix.shape[1])
        self._set_counts(counts.astype(np.float32))

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        return np.broadcast_to(self.counts, (user_index.shape[0], self.n_items)).copy()

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        # The first k unseen items of the precomputed ranking: no pass over the catalogue.
        if self._ranking is None:
            raise NotFittedError("popularity model is not fitted: call fit() or load()")
        ranking = self._ranking
        if allowed is not None:
            # The allowed items in popularity order: one gather over the catalogue.
            ranking = ranking[allowed[ranking]]
        head = ranking[: k + row.seen.shape[0]]
        if row.seen.shape[0]:
            head = head[~sorted_contains(row.seen, head)]
        top = head[:k]
        return top, self.counts[top]

    def _similar(self, item_index: int) -> FloatArray:
        # Not a similarity: the non-personalised answer is "what is popular".
        return self.counts.copy()

    def _state_arrays(self) -> StateArrays:
        return {"popularity": {"counts": self.counts}}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        counts = np.asarray(
            require_arrays(state, "popularity", ("counts",))["counts"], dtype=np.float32
        )
        if counts.shape != (self.n_items,):
            raise ModelStateError(
                f"popularity.npz: counts has shape {counts.shape}, expected ({self.n_items},)"
            )
        self._set_counts(counts)

    def _set_counts(self, counts: FloatArray) -> None:
        self._counts = counts
        self._ranking = np.argsort(-counts, kind="stable").astype(np.intp, copy=False)
