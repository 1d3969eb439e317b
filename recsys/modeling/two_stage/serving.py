"""``two_stage``'s one-request path: the batch path's arithmetic for one history, numpy only.

The batch path (``TwoStageRecommender._score_sequences``) builds a dozen scipy matrices per call:
fine for thousands of rows at once, ~10x the maths for one request. Here every array the
sources and features read is taken once, when the model is fit or loaded (CSR
indptr/indices/data of the item-item matrices, the ALS factors and fold-in Gram, the dense
fallback), and a request only gathers from them.

Each step repeats the batch path's operations in the same order and precision (float32 sums
in the order scipy's sparse products add, the same ``top_k`` over the same dense row), so the
answers are the same, bit for bit in practice; tests/unit/test_two_stage_serving.py compares
the two on every history of a fitted model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.als import ALSRecommender, als_fold_in, fold_in_gram
from recsys.modeling.base import Recommender
from recsys.modeling.candidates.recent_knn import RecentKNNRecommender
from recsys.modeling.candidates.recent_popularity import (
    SECONDS_PER_DAY,
    RecentPopularityRecommender,
)
from recsys.modeling.candidates.transitions import TransitionsRecommender
from recsys.modeling.dataset import IdArray, IndexArray, lookup
from recsys.modeling.ease import EASERecommender
from recsys.modeling.explain import anchors
from recsys.modeling.history import History
from recsys.modeling.sequences import Sequences
from recsys.modeling.timeline import _TIME_BITS as TIME_BITS
from recsys.modeling.timeline import _TIME_SPAN as TIME_MASK
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.topk import top_k
from recsys.modeling.two_stage.candidates import CandidateSet
from recsys.modeling.two_stage.features import (
    FeatureContext,
    _cosine,
    _first_times,
    _item_features,
    _ItemStatistics,
    _user_features,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Item-item matrices of catalogues up to this size are also kept dense (64 MiB of float32 at
# most): a request then reads a few whole rows instead of gathering scattered CSR entries
# (ML-100K: ~10x less time). Bigger catalogues gather from the CSR arrays.
DENSE_ITEMS = 4096


@dataclass(frozen=True)
class CSRArrays:
    """A float32 items x items CSR as plain arrays (no scipy object per request)."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.integer[Any]]  # scipy's own (int32 below 2**31 entries)
    data: F32
    n_cols: int
    # The same matrix dense (small catalogues, ``DENSE_ITEMS``), else None.
    dense: F32 | None = None

    @classmethod
    def of(cls, matrix: sp.csr_matrix) -> CSRArrays:
        """The arrays of ``matrix`` with sorted, distinct column indices per row (shared with
        ``matrix`` when it is already so: at 25M rows these matrices are ~1 GB)."""
        canonical = sp.csr_matrix(matrix, dtype=np.float32)
        if not canonical.has_canonical_format:
            canonical = canonical.copy()
            canonical.sum_duplicates()
        dense = None
        if max(canonical.shape) <= DENSE_ITEMS:
            dense = np.ascontiguousarray(canonical.toarray(), dtype=np.float32)
        return cls(
            indptr=canonical.indptr.astype(np.int64, copy=False),
            indices=canonical.indices,
            data=canonical.data,
            n_cols=int(canonical.shape[1]),
            dense=dense,
        )

    def entries(self, rows: IndexArray) -> npt.NDArray[np.int64]:
        """Positions in ``indices``/``data`` of every entry of ``rows``, row by row, in order."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # arange(total) shifted per row so that row r's block starts at its indptr.
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        out: npt.NDArray[np.int64] = np.arange(total, dtype=np.int64) + shift
        return out

    def block(self, rows: IndexArray, cols: IndexArray) -> F32:
        """Dense ``self[rows][:, cols]`` (rows and cols may repeat), float32."""
        if self.dense is not None:
            out: F32 = self.dense[rows][:, cols]
            return out
        block = np.zeros((rows.shape[0], cols.shape[0]), dtype=np.float32)
        if rows.shape[0] == 0 or cols.shape[0] == 0:
            return block
        # Column -> its places among ``cols``; a repeated column takes every place.
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        at = self.entries(rows)
        entry_rows = np.repeat(np.arange(rows.shape[0]), self.indptr[rows + 1] - self.indptr[rows])
        found = self.indices[at]
        lo = np.searchsorted(sorted_cols, found, side="left")
        hi = np.searchsorted(sorted_cols, found, side="right")
        hits = hi - lo
        entry = np.repeat(np.arange(found.shape[0]), hits)
        place = order[
            np.repeat(lo, hits)
            + np.arange(entry.shape[0])
            - np.repeat(np.cumsum(hits) - hits, hits)
        ]
        block[entry_rows[entry], place] = self.data[at[entry]]
        return block

    def weighted_row_sum(self, rows: IndexArray, weights: F32) -> F32:
        """Dense ``sum_r weights[r] * self[rows[r]]``, -inf where no row stores anything.

        As scipy's CSR @ CSR (``csr_matmat``): float32 products added per column in the order
        of ``rows``, and columns whose sum is exactly 0 dropped (-inf here). The dense copy
        adds the same products plus exact zeros (x + 0 = x); stored values are positive, so
        a zero sum means "nothing stored".
        """
        if self.dense is not None:
            if rows.shape[0] == 0:
                return np.full(self.n_cols, -np.inf, dtype=np.float32)
            products = weights[:, None] * self.dense[rows]
            total = np.add.reduce(products, axis=0, dtype=np.float32)
            dense_scores: F32 = np.where(total != 0, total, np.float32(-np.inf))
            return dense_scores
        at = self.entries(rows)
        cols = self.indices[at]
        products = np.repeat(weights, self.indptr[rows + 1] - self.indptr[rows]) * self.data[at]
        sums = np.zeros(self.n_cols, dtype=np.float32)
        np.add.at(sums, cols, products)
        scores = np.full(self.n_cols, -np.inf, dtype=np.float32)
        touched = np.unique(cols)
        touched = touched[sums[touched] != 0]
        scores[touched] = sums[touched]
        return scores


@dataclass(frozen=True)
class OneHistory:
    """One request's history in the model's item space (``Sequences`` with one row)."""

    cols: IndexArray  # time order, known items only
    times: npt.NDArray[np.int64]
    ratings: F32
    reference_time: int
    # Distinct history items (sorted) and their summed raw ratings: the batch path's raw CSR row.
    seen: IndexArray
    seen_ratings: F32

    @classmethod
    def of(cls, history: History, item_ids: IdArray, *, default_time: int) -> OneHistory:
        """``history_sequences`` for one history: known movies in (time, movie id) order, or
        in the given order when untimed; the reference time counts unknown movies too."""
        n = len(history)
        if history.timestamps is not None:
            times, tiebreak = history.timestamps, history.movie_ids
        else:
            times = np.full(n, default_time, dtype=np.int64)
            tiebreak = np.arange(n, dtype=np.int64)
        reference = int(times.max()) if n else default_time
        cols = lookup(item_ids, history.movie_ids)
        known = cols >= 0
        cols, times, ratings, tiebreak = (
            cols[known],
            times[known],
            history.ratings[known],
            tiebreak[known],
        )
        order = np.lexsort((tiebreak, times))
        return cls.of_row(
            cols[order].astype(np.intp),
            times[order].astype(np.int64),
            ratings[order].astype(np.float32),
            reference,
        )

    @classmethod
    def of_row(
        cls, cols: IndexArray, times: npt.NDArray[np.int64], ratings: F32, reference_time: int
    ) -> OneHistory:
        """From one row's entries in time order."""
        seen, seen_ratings = cols, ratings
        if cols.shape[0] > 1:
            order = np.argsort(cols, kind="stable")
            sorted_cols = cols[order]
            first = np.flatnonzero(np.r_[True, sorted_cols[1:] != sorted_cols[:-1]])
            seen = sorted_cols[first]
            seen_ratings = np.add.reduceat(ratings[order], first).astype(np.float32)
        return cls(
            cols=cols,
            times=times,
            ratings=ratings,
            reference_time=reference_time,
            seen=seen,
            seen_ratings=seen_ratings,
        )

    def sequences(self) -> Sequences:
        """The same row as a one-row ``Sequences`` (plain arrays)."""
        return Sequences(
            indptr=np.array([0, self.cols.shape[0]], dtype=np.int64),
            cols=self.cols,
            times=self.times,
            ratings=self.ratings,
            reference_times=np.array([self.reference_time], dtype=np.int64),
        )

    def recent(self, last: int, decay: float) -> tuple[IndexArray, F32]:
        """``Sequences.recency_profile``'s one row: (items ascending, weight of latest sighting)."""
        back = np.arange(self.cols.shape[0] - 1, -1, -1, dtype=np.int64)
        keep = back < last
        cols = self.cols[keep]
        weights = np.power(decay, back[keep]).astype(np.float32)
        order = np.lexsort((-weights, cols))
        cols, weights = cols[order], weights[order]
        first = np.ones(cols.shape[0], dtype=np.bool_)
        first[1:] = cols[1:] != cols[:-1]
        return cols[first], weights[first]


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
    raise TypeError(f"two_stage has no serving path for a {model.model_type} source")


@dataclass(frozen=True)
class ServingModel:
    """Everything one request reads, precomputed from a fitted two_stage model."""

    sources: Mapping[str, ServingSource]
    per_source: Mapping[str, int]
    context: FeatureContext
    neighbours: CSRArrays
    fallback: F32
    # Reference time of an untimed or empty history (the model's ``_default_time``).
    default_time: int

    def candidates(self, history: OneHistory, user_index: int) -> CandidateSet:
        """``gather_candidates`` for one row."""
        chosen: list[tuple[int, IndexArray, F32]] = []
        for index, (name, source) in enumerate(self.sources.items()):
            scores = source.scores(history, user_index)
            scores[history.seen] = -np.inf
            top, top_scores = top_k_row(scores, self.per_source[name])
            valid = np.isfinite(top_scores)
            chosen.append((index, top[valid], top_scores[valid]))
        all_cols = np.concatenate([cols for _, cols, _ in chosen]).astype(np.intp)
        # np.unique(return_inverse) through a dense mark: sorted distinct items, and where
        # each proposal lands among them.
        marked = np.zeros(self.fallback.shape[0], dtype=np.bool_)
        marked[all_cols] = True
        cols = np.flatnonzero(marked)
        position = np.empty(self.fallback.shape[0], dtype=np.intp)
        position[cols] = np.arange(cols.shape[0])
        inverse = position[all_cols]
        n_sources = len(self.sources)
        score_table = np.full((cols.shape[0], n_sources), np.nan, dtype=np.float32)
        rank_table = np.full((cols.shape[0], n_sources), np.nan, dtype=np.float32)
        offset = 0
        for index, _top_cols, values in chosen:
            where = inverse[offset : offset + values.shape[0]]
            score_table[where, index] = values
            rank_table[where, index] = np.arange(1, values.shape[0] + 1, dtype=np.float32)
            offset += values.shape[0]
        return CandidateSet(
            rows=np.zeros(cols.shape[0], dtype=np.intp),
            cols=cols,
            scores=score_table,
            ranks=rank_table,
            source_names=tuple(self.sources),
        )

    def features(self, history: OneHistory, candidates: CandidateSet) -> F32:
        """``build_features`` for one row (no withheld rows)."""
        sequences = history.sequences()
        context = self.context
        cols = candidates.cols
        scores = _relative_scores_one(candidates)
        per_source = np.stack([scores, candidates.ranks], axis=2).reshape(candidates.n_pairs, -1)
        user = _user_features(sequences)
        all_genres, recent_genres, recent_year = self._profiles(history)
        item_genres = context.genres[cols]
        before = np.full(cols.shape[0], history.reference_time, dtype=np.int64)
        first_seen = _first_times(sequences)
        stats = self._item_statistics(cols, history.reference_time, int(first_seen[0]))
        with np.errstate(invalid="ignore", divide="ignore"):
            span_share = np.where(stats.count > 0, stats.in_span / stats.count, np.nan)
        n = cols.shape[0]
        pair = np.column_stack(
            [
                np.sum(np.isfinite(candidates.scores), axis=1).astype(np.float64),
                # Materialised, as the batch path's [rows] gather: einsum may add a broadcast
                # (zero-stride) operand in another order.
                _cosine(item_genres, np.repeat(all_genres[None, :], n, axis=0)),
                _cosine(item_genres, np.repeat(recent_genres[None, :], n, axis=0)),
                np.abs(context.years[cols].astype(np.float64) - recent_year),
                span_share,
                self._history_sums(history, cols),
            ]
        )
        items = _item_features(context, cols, before, stats)
        users = np.repeat(user, n, axis=0)
        return np.column_stack([per_source, pair, users, items]).astype(np.float32)

    def _item_statistics(self, cols: IndexArray, before: int, span_start: int) -> _ItemStatistics:
        # features._item_statistics for one row and no withheld rows: the same counts, with
        # the three binary searches per candidate (reference time, window start, span start)
        # in one searchsorted call.
        timeline = self.context.timeline
        window = int(self.context.recent_days * SECONDS_PER_DAY)
        ends = np.clip(
            np.array([before, before - window, span_start], dtype=np.int64) - timeline.origin,
            0,
            TIME_MASK,
        )
        keys = cols.astype(np.int64) << TIME_BITS
        query = (keys[None, :] | ends[:, None]).ravel()
        positions = np.searchsorted(timeline.keys, query, side="left").reshape(3, -1)
        starts = timeline.item_starts[cols]
        count = (positions[0] - starts).astype(np.float64)
        recent = count - (positions[1] - starts)
        rating_sum = timeline.rating_cumsum[positions[0]] - timeline.rating_cumsum[starts]
        in_span = count - (positions[2] - starts)
        first = timeline.nth_times(cols, np.zeros(cols.shape[0], dtype=np.int64))
        return _ItemStatistics(count, recent, rating_sum, in_span, first)

    def _profiles(self, history: OneHistory) -> tuple[F64, F64, float]:
        # features._profiles for one row: genre counts of the whole history (repeats count
        # twice) and of the distinct latest items; mean known year of those latest items.
        genres = self.context.genres
        all_genres = genres[history.cols].astype(np.float64).sum(axis=0)
        recent, _ = history.recent(self.context.last_items, 1.0)
        recent_genres = genres[recent].astype(np.float64).sum(axis=0)
        years = self.context.years[recent].astype(np.float64)
        known = np.isfinite(years)
        count = float(known.sum())
        recent_year = float(years[known].sum() / count) if count > 0 else float("nan")
        return all_genres, recent_genres, recent_year

    def _history_sums(self, history: OneHistory, cols: IndexArray) -> F64:
        # features._history_sums for one row: per candidate, the float32 sum of
        # neighbours[h, item] over the distinct history items h in ascending order.
        out = np.zeros(cols.shape[0], dtype=np.float32)
        if cols.shape[0] == 0 or history.seen.shape[0] == 0:
            return out.astype(np.float64)
        dense = self.neighbours.dense
        if dense is not None:
            block = dense[history.seen][:, cols]
            summed: F32 = np.add.reduce(block, axis=0, dtype=np.float32)
            return summed.astype(np.float64)
        position = np.full(self.neighbours.n_cols, -1, dtype=np.intp)
        position[cols] = np.arange(cols.shape[0])
        at = self.neighbours.entries(history.seen)
        where = position[self.neighbours.indices[at]]
        hit = where >= 0
        np.add.at(out, where[hit], self.neighbours.data[at[hit]])
        return out.astype(np.float64)


def explain_anchors(
    item_ids: IdArray,
    matrices: Sequence[CSRArrays],
    history: History,
    movie_ids: npt.ArrayLike,
    *,
    last: int | None,
    recency: float,
) -> IdArray:
    """``recsys.modeling.explain.anchors`` over CSR arrays (no scipy slicing per request)."""
    return anchors(
        item_ids,
        matrices,
        history,
        movie_ids,
        last=last,
        recency=recency,
        block=lambda matrix, rows, cols: matrix.block(rows, cols),
    )


def top_k_row(scores: F32, k: int) -> tuple[IndexArray, F32]:
    """``top_k`` of one dense row: the same function as the batch path, so the same choice
    among equal scores at the k-th place (lower index first)."""
    top, values = top_k(scores[None, :], k)
    return top[0], values[0]


def _relative_scores_one(candidates: CandidateSet) -> F32:
    # features._relative_scores for one row: fmax.at over the row is fmax.reduce.
    scores = candidates.scores.astype(np.float64)
    best = np.fmax.reduce(scores, axis=0, initial=-np.inf)
    scale = np.abs(best)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scale > 0, scores / scale, np.nan)
    return out.astype(np.float32)


def dense_row(candidates: CandidateSet, ranked: F32, fallback: F32) -> F32:
    """``model._dense_scores`` for one row: candidates their ranker score, every other item
    ``floor - 2 + fallback`` (below them all, by popularity)."""
    floor = np.float32(ranked.min()) if candidates.n_pairs else np.float32(0.0)
    scores: F32 = (floor - 2.0 + fallback).astype(np.float32)
    scores[candidates.cols] = ranked
    return scores


def top_k_answer(
    candidates: CandidateSet,
    ranked: F32,
    fallback: F32,
    seen: IndexArray,
    k: int,
) -> tuple[IndexArray, F32]:
    """``_dense_scores`` then ``top_k`` for one row.

    The dense row is built as the batch path builds it (candidates their ranker score, every
    other item ``floor - 2 + fallback``) and goes through the same ``top_k``: equal ranker
    scores at the k-th place are then broken the same way too.
    """
    scores = dense_row(candidates, ranked, fallback)
    scores[seen] = -np.inf
    top, top_scores = top_k_row(scores, k)
    keep = np.isfinite(top_scores)
    return top[keep], top_scores[keep]
