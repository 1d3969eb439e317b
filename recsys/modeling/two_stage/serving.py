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

import numpy as np
import numpy.typing as npt

from recsys.modeling.candidates.recent_popularity import (
    SECONDS_PER_DAY,
)
from recsys.modeling.dataset import BoolArray, IdArray, IndexArray
from recsys.modeling.explain import anchors
from recsys.modeling.history import History
from recsys.modeling.timeline import _TIME_BITS as TIME_BITS
from recsys.modeling.timeline import _TIME_SPAN as TIME_MASK
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
from recsys.modeling.two_stage.serving_arrays import F32, F64, CSRArrays, OneHistory
from recsys.modeling.two_stage.serving_sources import ServingSource


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

    def candidates(
        self, history: OneHistory, user_index: int, *, allowed: BoolArray | None = None
    ) -> CandidateSet:
        """``gather_candidates`` for one row; only ``allowed`` items when given."""
        chosen: list[tuple[int, IndexArray, F32]] = []
        for index, (name, source) in enumerate(self.sources.items()):
            scores = source.scores(history, user_index)
            scores[history.seen] = -np.inf
            if allowed is not None:
                scores[~allowed] = -np.inf
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
    *,
    allowed: BoolArray | None = None,
) -> tuple[IndexArray, F32]:
    """``_dense_scores`` then ``top_k`` for one row.

    The dense row is built as the batch path builds it (candidates their ranker score, every
    other item ``floor - 2 + fallback``) and goes through the same ``top_k``: equal ranker
    scores at the k-th place are then broken the same way too.
    """
    scores = dense_row(candidates, ranked, fallback)
    scores[seen] = -np.inf
    if allowed is not None:
        scores[~allowed] = -np.inf
    top, top_scores = top_k_row(scores, k)
    keep = np.isfinite(top_scores)
    return top[keep], top_scores[keep]
