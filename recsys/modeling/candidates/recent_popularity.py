"""What was popular in the days just before the request: the movies of the moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix, lookup
from recsys.modeling.errors import NotFittedError
from recsys.modeling.params import ModelParams, check_float
from recsys.modeling.sequences import Sequences
from recsys.modeling.state import StateArrays
from recsys.modeling.timeline import ItemTimeline

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, kw_only=True)
class RecentPopularityParams(ModelParams):
    """Length of the popularity window before each request's reference time."""

    model_type: ClassVar[str] = "recent_popularity"

    days: float = 30.0

    def __post_init__(self) -> None:
        check_float("recent_popularity", "days", self.days, low=0.0, low_open=True)


class RecentPopularityRecommender(Recommender[RecentPopularityParams]):
    """Interactions per movie in the ``days`` before the user's latest interaction.

    Ties (and movies nobody rated in the window) are ordered by all-time popularity, which
    adds less than 1 to any score.
    """

    example_params: ClassVar[Mapping[str, Any]] = {"days": 30.0}

    model_type: ClassVar[str] = "recent_popularity"
    params_type: ClassVar[type[ModelParams]] = RecentPopularityParams
    personalised: ClassVar[bool] = False
    needs_sequence: ClassVar[bool] = True

    def __init__(self, params: RecentPopularityParams | None = None) -> None:
        super().__init__(params)
        self._timeline: ItemTimeline | None = None

    @property
    def timeline(self) -> ItemTimeline:
        """Training rows by (item, time)."""
        if self._timeline is None:
            raise NotFittedError("recent_popularity model is not fitted: call fit() or load()")
        return self._timeline

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None  # checked by fit
        source = matrix.source
        self._timeline = ItemTimeline.build(
            lookup(matrix.item_ids, source.movie_ids),
            np.asarray(source.timestamps, dtype=np.int64),
            np.asarray(source.ratings, dtype=np.float32),
            n_items=matrix.shape[1],
        )

    def _default_time(self) -> int:
        return self.timeline.latest_time() + 1

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        times = np.full(user_index.shape[0], self._default_time(), dtype=np.int64)
        return self.scores_at(times)

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        return self.scores_at(sequences.reference_times)

    def scores_at(self, reference_times: npt.NDArray[np.int64]) -> FloatArray:
        """(len(reference_times), items) scores: window counts plus the all-time tie-break."""
        n_rows, n_items = reference_times.shape[0], self.n_items
        cols = np.tile(np.arange(n_items), n_rows)
        ends = np.repeat(reference_times.astype(np.int64), n_items)
        window = int(self.params.days * SECONDS_PER_DAY)
        recent = self.timeline.counts_before(cols, ends) - self.timeline.counts_before(
            cols, ends - window
        )
        return (recent.reshape(n_rows, n_items) + self._tiebreak()[None, :]).astype(np.float32)

    def _tiebreak(self) -> npt.NDArray[np.float64]:
        totals = np.diff(self.timeline.item_starts).astype(np.float64)
        share: npt.NDArray[np.float64] = totals / (totals.max() + 1.0)
        return share

    def _similar(self, item_index: int) -> FloatArray:
        # Not a similarity: the non-personalised answer is "what is popular lately".
        scores: FloatArray = self._score(np.zeros(1, np.intp), sp.csr_matrix((1, self.n_items)))
        row: FloatArray = scores[0]
        return row

    def _state_arrays(self) -> StateArrays:
        return {"timeline": self.timeline.to_arrays()}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        self._timeline = ItemTimeline.from_state(state, "timeline", n_items=self.n_items)
