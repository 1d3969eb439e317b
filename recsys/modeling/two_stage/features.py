"""Ranker features of (history, candidate) pairs, each computed from what was known at the time.

A row's reference time is its latest history timestamp. Item statistics count only training
rows strictly before it (``ItemTimeline``), and user features read only the row's history, so
a ranker training row built for "the item after this prefix" sees nothing at or after the
prefix's end (tests/unit/test_two_stage_leakage.py checks this by deleting the later rows).

A ranker training group may also hold out rows from the middle of a history (its positives):
those rows are then passed as ``withheld`` and subtracted from the item statistics, so the
features equal those computed from a timeline without them (the same test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.candidates.recent_popularity import SECONDS_PER_DAY
from recsys.modeling.sequences import Sequences
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.two_stage.candidates import CandidateSet

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

USER_FEATURES = (
    "user_items",
    "user_mean_rating",
    "user_rating_std",
    "user_gap_days",
    "user_span_days",
)
ITEM_FEATURES = (
    "item_count",
    "item_recent_count",
    "item_mean_rating",
    "item_age_days",
    "item_year",
)
PAIR_FEATURES = (
    "n_sources",
    "genre_affinity",
    "genre_affinity_recent",
    "year_distance_recent",
    # Share of the item's rows (before the reference time) that fall within the user's active
    # span (first history item .. reference time): movies watched "around when the user was".
    "item_span_share",
    # Transitions either way between the item and ANY history item (not only the latest):
    # how well the item fills a gap in the history rather than follows its end.
    "history_neighbours",
)


def feature_names(source_names: tuple[str, ...]) -> tuple[str, ...]:
    """Column names of ``build_features``' matrix, in order."""
    per_source = tuple(f"{name}_{what}" for name in source_names for what in ("score", "rank"))
    return per_source + PAIR_FEATURES + USER_FEATURES + ITEM_FEATURES


@dataclass(frozen=True)
class FeatureContext:
    """What features are computed from besides the history: the item timeline and attributes."""

    timeline: ItemTimeline
    # Per item of the model's vocabulary: year (NaN unknown) and 0/1 genres.
    years: F32
    genres: F32
    recent_days: float
    last_items: int


def build_features(
    context: FeatureContext,
    sequences: Sequences,
    candidates: CandidateSet,
    *,
    neighbours: sp.csr_matrix,
    withheld: Sequences | None = None,
) -> F32:
    """(pairs, features) float32 matrix in ``feature_names`` order; NaN means unknown.

    ``withheld`` (row-aligned with ``sequences``): rows of each row's user that the timeline
    holds but the features must not see; they are subtracted from the item statistics.
    ``neighbours``: (items, items) sequence-neighbour weights (transitions in both directions).
    """
    rows, cols = candidates.rows, candidates.cols
    n_items = context.years.shape[0]
    scores = _relative_scores(candidates, sequences.n_rows)
    per_source = np.stack([scores, candidates.ranks], axis=2).reshape(candidates.n_pairs, -1)
    user = _user_features(sequences)
    all_genres, recent_genres, recent_year = _profiles(context, sequences, n_items)
    item_genres = context.genres[cols]
    before = sequences.reference_times[rows]
    first_seen = _first_times(sequences)
    stats = _item_statistics(context, candidates, before, first_seen[rows], withheld)
    with np.errstate(invalid="ignore", divide="ignore"):
        span_share = np.where(stats.count > 0, stats.in_span / stats.count, np.nan)
    pair = np.column_stack(
        [
            np.sum(np.isfinite(candidates.scores), axis=1).astype(np.float64),
            _cosine(item_genres, all_genres[rows]),
            _cosine(item_genres, recent_genres[rows]),
            np.abs(context.years[cols].astype(np.float64) - recent_year[rows]),
            span_share,
            _history_sums(sequences, candidates, neighbours),
        ]
    )
    items = _item_features(context, cols, before, stats)
    return np.column_stack([per_source, pair, user[rows], items]).astype(np.float32)


def _user_features(sequences: Sequences) -> F64:
    n = sequences.lengths.astype(np.float64)
    rows = sequences.rows()
    ratings = sequences.ratings.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(rows, ratings, minlength=sequences.n_rows) / n
        square = np.bincount(rows, ratings**2, minlength=sequences.n_rows) / n
        spread = np.sqrt(np.maximum(square - mean**2, 0.0))
    gap = np.full(sequences.n_rows, np.nan)
    two = sequences.lengths >= 2
    previous = sequences.times[sequences.indptr[1:][two] - 2]
    gap[two] = (sequences.reference_times[two] - previous) / SECONDS_PER_DAY
    span = (sequences.reference_times - _first_times(sequences)) / SECONDS_PER_DAY
    return np.column_stack([n, mean, spread, gap, span])


def _relative_scores(candidates: CandidateSet, n_rows: int) -> F32:
    # Each source's score over its best score in the row: the scale of raw scores moves with
    # the amount of data a source was fit on (base for ranker training, all rows when served).
    scores = candidates.scores.astype(np.float64)
    best = np.full((n_rows, scores.shape[1]), -np.inf)
    np.fmax.at(best, candidates.rows, scores)
    scale = np.abs(best[candidates.rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scale > 0, scores / scale, np.nan)
    return out.astype(np.float32)


def _history_sums(sequences: Sequences, candidates: CandidateSet, neighbours: sp.csr_matrix) -> F64:
    # Per pair: sum of neighbours[h, item] over the row's distinct history items h.
    n_items = neighbours.shape[0]
    rows = sequences.rows()
    history = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.float32), (rows, sequences.cols)),
        shape=(sequences.n_rows, n_items),
    )
    history.data[:] = 1.0  # duplicates count once
    summed = sp.csr_matrix(history @ neighbours)
    summed.sort_indices()
    out = np.zeros(candidates.n_pairs)
    if summed.nnz == 0 or candidates.n_pairs == 0:
        return out
    entry_rows = np.repeat(np.arange(summed.shape[0]), np.diff(summed.indptr))
    keys = entry_rows.astype(np.int64) * n_items + summed.indices
    wanted = candidates.rows.astype(np.int64) * n_items + candidates.cols
    at = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
    found = keys[at] == wanted
    out[found] = summed.data[at[found]]
    return out


def _first_times(sequences: Sequences) -> F64:
    # Each row's earliest history time; the reference time for an empty history.
    first = sequences.reference_times.astype(np.float64)
    has = sequences.lengths > 0
    first[has] = sequences.times[sequences.indptr[:-1][has]]
    return first


def _profiles(context: FeatureContext, sequences: Sequences, n_items: int) -> tuple[F64, F64, F64]:
    # Genre share of the whole history and of the latest items; mean year of the latest items.
    rows = sequences.rows()
    history = sp.csr_matrix(
        (np.ones(rows.shape[0]), (rows, sequences.cols)), shape=(sequences.n_rows, n_items)
    )
    recent = sequences.recency_profile(n_items, last=context.last_items, decay=1.0)
    recent = sp.csr_matrix(recent, dtype=np.float64)
    genres = context.genres.astype(np.float64)
    all_genres = np.asarray(history @ genres)
    recent_genres = np.asarray(recent @ genres)
    years = context.years.astype(np.float64)
    known = np.isfinite(years)
    year_sum = recent @ np.where(known, years, 0.0)
    year_count = recent @ known.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recent_year = np.where(year_count > 0, year_sum / year_count, np.nan)
    return all_genres, recent_genres, recent_year


def _cosine(a: F32, b: F64) -> F64:
    dot = np.einsum("ij,ij->i", a.astype(np.float64), b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out: F64 = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)
    return out


@dataclass(frozen=True)
class _ItemStatistics:
    """Per candidate pair: the item's rows before the reference time, their rating sum, those
    in the recent window and in the user's span, and the item's first time."""

    count: F64
    recent: F64
    rating_sum: F64
    in_span: F64
    first: F64


def _item_statistics(
    context: FeatureContext,
    candidates: CandidateSet,
    before: npt.NDArray[np.int64],
    span_start: F64,
    withheld: Sequences | None,
) -> _ItemStatistics:
    timeline = context.timeline
    cols = candidates.cols
    window = int(context.recent_days * SECONDS_PER_DAY)
    count = timeline.counts_before(cols, before).astype(np.float64)
    recent = count - timeline.counts_before(cols, before - window)
    rating_sum = timeline.rating_sums_before(cols, before)
    in_span = count - timeline.counts_before(cols, span_start.astype(np.int64))
    first_rank = np.zeros(cols.shape[0], dtype=np.int64)
    if withheld is not None and withheld.cols.shape[0]:
        # Subtract the withheld rows that the counts above include (time < reference).
        n_items = timeline.n_items
        pair_keys = candidates.rows.astype(np.int64) * n_items + cols
        w_rows = withheld.rows()
        keys = w_rows.astype(np.int64) * n_items + withheld.cols
        at = np.minimum(np.searchsorted(pair_keys, keys), max(pair_keys.shape[0] - 1, 0))
        hit = pair_keys[at] == keys if pair_keys.shape[0] else np.zeros(keys.shape[0], bool)
        at, times = at[hit], withheld.times[hit]
        counted = times < before[at]
        at, times = at[counted], times[counted]
        ratings = withheld.ratings[hit][counted].astype(np.float64)
        np.subtract.at(count, at, 1.0)
        np.subtract.at(recent, at, (times >= before[at] - window).astype(np.float64))
        np.subtract.at(rating_sum, at, ratings)
        np.subtract.at(in_span, at, (times >= span_start[at]).astype(np.float64))
        np.add.at(first_rank, at, (times == timeline.first_times()[cols[at]]).astype(np.int64))
    first = timeline.nth_times(cols, first_rank)
    return _ItemStatistics(count, recent, rating_sum, in_span, first)


def _item_features(
    context: FeatureContext,
    cols: npt.NDArray[np.intp],
    before: npt.NDArray[np.int64],
    stats: _ItemStatistics,
) -> F64:
    count = stats.count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, stats.rating_sum / count, np.nan)
        age = np.where(count > 0, (before - stats.first) / SECONDS_PER_DAY, np.nan)
    return np.column_stack([count, stats.recent, mean, age, context.years[cols].astype(np.float64)])
