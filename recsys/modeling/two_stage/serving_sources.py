"""``two_stage``'s candidate sources on the one-request path: each scores one history over
arrays taken when the model is fit or loaded (see recsys.modeling.two_stage.serving)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.modeling.als import ALSRecommender, als_fold_in, fold_in_gram
from recsys.modeling.base import Recommender
from recsys.modeling.candidates.recent_knn import RecentKNNRecommender
from recsys.modeling.candidates.recent_popularity import (
    SECONDS_PER_DAY,
    RecentPopularityRecommender,
)
from recsys.modeling.candidates.transitions import TransitionsRecommender
from recsys.modeling.dataset import IndexArray
from recsys.modeling.ease import EASERecommender
from recsys.modeling.sasrec.model import SASRecRecommender
from recsys.modeling.sequences import Sequences
from recsys.modeling.timeline import _TIME_SPAN as TIME_MASK
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.two_stage.serving_arrays import F32, F64, CSRArrays, OneHistory


class ServingSource:
    """One candidate source's dense score row for one history (-inf: cannot score)."""

    def scores(self, history: OneHistory, user_index: int) -> F32:
        raise NotImplementedError


@dataclass(frozen=True)
class RecencySource(ServingSource):
    """transitions / recent_knn: recency-weighted latest items @ an item-item CSR."""

    matrix: CSRArrays
    last_items: int
    recency: float

    def scores(self, history: OneHistory, user_index: int) -> F32:
        cols, weights = history.recent(self.last_items, self.recency)
        return self.matrix.weighted_row_sum(cols, weights)


@dataclass(frozen=True)
class PopularitySource(ServingSource):
    """recent_popularity: counts in the window before the reference time, plus a tie-break."""

    timeline: ItemTimeline
    window: int
    tiebreak: F64
    all_items: IndexArray
    # Every training row's time and item, in time order: the rows of a window are one slice.
    times: npt.NDArray[np.int64]
    items: npt.NDArray[np.int32]

    @classmethod
    def of(cls, model: RecentPopularityRecommender) -> PopularitySource:
        """From a fitted recent_popularity model's timeline."""
        timeline = model.timeline
        totals = np.diff(timeline.item_starts).astype(np.float64)
        items = np.repeat(np.arange(timeline.n_items, dtype=np.int32), totals.astype(np.int64))
        times = (timeline.keys & TIME_MASK) + timeline.origin
        order = np.argsort(times, kind="stable")
        return cls(
            timeline=timeline,
            window=int(model.params.days * SECONDS_PER_DAY),
            tiebreak=totals / (totals.max() + 1.0),
            all_items=np.arange(model.n_items, dtype=np.intp),
            times=times[order],
            items=items[order],
        )

    def scores(self, history: OneHistory, user_index: int) -> F32:
        return self.scores_at(history.reference_time)

    def batch_scores(self, sequences: Sequences) -> F32:
        """(rows, items) ``RecentPopularityRecommender.scores_at`` of each row's reference time."""
        out = np.empty((sequences.n_rows, self.all_items.shape[0]), dtype=np.float32)
        for row, end in enumerate(sequences.reference_times):
            out[row] = self.scores_at(int(end))
        return out

    def scores_at(self, end: int) -> F32:
        """Window counts before ``end`` plus the all-time tie-break, as float32."""
        lo, hi = np.searchsorted(self.times, [end - self.window, end], side="left")
        if hi - lo <= 32 * self.all_items.shape[0]:
            # Rows with end - window <= time < end: the same integer counts as two
            # counts_before per item, from one slice instead of 2 x items binary searches.
            recent = np.bincount(self.items[lo:hi], minlength=self.all_items.shape[0])
        else:
            ends = np.full(self.all_items.shape[0], end, dtype=np.int64)
            recent = self.timeline.counts_before(
                self.all_items, ends
            ) - self.timeline.counts_before(self.all_items, ends - self.window)
        scores: F32 = (recent + self.tiebreak).astype(np.float32)
        return scores


@dataclass(frozen=True)
class DenseItemSource(ServingSource):
    """ease: the sum of the weight rows of the (binary) history items."""

    weights: F32
    # ease.top_items: the items the weights cover (sorted), and each item's row among them
    # (-1: not covered, never scored). None: every item.
    subset: IndexArray | None = None
    position: IndexArray | None = None

    @classmethod
    def of(cls, model: EASERecommender) -> DenseItemSource:
        """From a fitted EASE model."""
        subset = model.subset
        if subset is None:
            return cls(model.weights)
        position = np.full(model.n_items, -1, dtype=np.intp)
        position[subset] = np.arange(subset.shape[0])
        return cls(model.weights, subset, position)

    def scores(self, history: OneHistory, user_index: int) -> F32:
        rows = history.seen
        if self.position is not None:
            rows = self.position[rows]
            rows = rows[rows >= 0]
        if rows.shape[0] == 0:
            part = np.zeros(self.weights.shape[1], dtype=np.float32)
        else:
            # Rows added one after another in item order, as scipy's CSR @ dense does.
            part = np.add.reduce(self.weights[rows], axis=0, dtype=np.float32)
        if self.subset is None or self.position is None:
            return part
        scores = np.full(self.position.shape[0], -np.inf, dtype=np.float32)
        scores[self.subset] = part
        return scores


@dataclass(frozen=True)
class FactorSource(ServingSource):
    """als: the history folded in (confidence weights), dotted with every item's factors."""

    user_factors: F32
    item_factors: F32
    gram: F64
    weighting_alpha: float
    alpha: float

    def scores(self, history: OneHistory, user_index: int) -> F32:
        vector = np.zeros((1, self.item_factors.shape[1]), dtype=np.float32)
        scorable = user_index >= 0
        if scorable:
            vector[0] = self.user_factors[user_index]
        if history.seen.shape[0]:
            confidence = (1.0 + self.weighting_alpha * history.seen_ratings).astype(np.float32)
            vector[0] = als_fold_in(
                self.item_factors, self.gram, history.seen, confidence * self.alpha
            )
            scorable = True
        scores: F32 = vector @ self.item_factors.T
        if not scorable:
            scores[:] = -np.inf
        row: F32 = scores[0]
        return row


@dataclass(frozen=True)
class EncoderSource(ServingSource):
    """sasrec: the numpy encoder over the history's latest items (time order)."""

    model: SASRecRecommender

    def scores(self, history: OneHistory, user_index: int) -> F32:
        return self.model.sequence_scores(history.cols)


def serving_source(model: Recommender[Any]) -> ServingSource:
    """The numpy scorer of a fitted candidate source."""
    if isinstance(model, TransitionsRecommender):
        return RecencySource(
            CSRArrays.of(model.transitions), model.params.last_items, model.params.recency
        )
    if isinstance(model, RecentKNNRecommender):
        return RecencySource(
            CSRArrays.of(model.similarity), model.params.last_items, model.params.recency
        )
    if isinstance(model, RecentPopularityRecommender):
        return PopularitySource.of(model)
    if isinstance(model, EASERecommender):
        return DenseItemSource.of(model)
    if isinstance(model, ALSRecommender):
        spec = model._weighting.spec
        if spec.kind != "confidence":
            raise ValueError(f"two_stage's als source is fit on confidence, not {spec.kind}")
        return FactorSource(
            user_factors=model.user_factors,
            item_factors=model.item_factors,
            gram=fold_in_gram(model.item_factors, model.params.regularization),
            weighting_alpha=float(spec.alpha),
            alpha=float(model.params.alpha),
        )
    if isinstance(model, SASRecRecommender):
        return EncoderSource(model)
    raise TypeError(f"two_stage has no serving path for a {model.model_type} source")
