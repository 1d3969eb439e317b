"""Ranker features of (history, candidate) pairs, each computed from what was known at the time.

A row's reference time is its latest history timestamp. Item statistics count only training
rows strictly before it (``ItemTimeline``), and user features read only the row's history, so
a ranker training row built for "the item after this prefix" sees nothing at or after the
prefix's end (tests/unit/test_two_stage_leakage.py checks this by deleting the later rows).
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

USER_FEATURES = ("user_items", "user_mean_rating", "user_rating_std", "user_gap_days")
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


def build_features(context: FeatureContext, sequences: Sequences, candidates: CandidateSet) -> F32:
    """(pairs, features) float32 matrix in ``feature_names`` order; NaN means unknown."""
    rows, cols = candidates.rows, candidates.cols
    n_items = context.years.shape[0]
    per_source = np.stack([candidates.scores, candidates.ranks], axis=2).reshape(
        candidates.n_pairs, -1
    )
    user = _user_features(sequences)
    all_genres, recent_genres, recent_year = _profiles(context, sequences, n_items)
    item_genres = context.genres[cols]
    pair = np.column_stack(
        [
            np.sum(np.isfinite(candidates.scores), axis=1).astype(np.float64),
            _cosine(item_genres, all_genres[rows]),
            _cosine(item_genres, recent_genres[rows]),
            np.abs(context.years[cols].astype(np.float64) - recent_year[rows]),
        ]
    )
    items = _item_features(context, cols, sequences.reference_times[rows])
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
    return np.column_stack([n, mean, spread, gap])


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


def _item_features(
    context: FeatureContext, cols: npt.NDArray[np.intp], before: npt.NDArray[np.int64]
) -> F64:
    timeline = context.timeline
    count = timeline.counts_before(cols, before).astype(np.float64)
    window = int(context.recent_days * SECONDS_PER_DAY)
    recent = count - timeline.counts_before(cols, before - window)
    rating_sum = timeline.rating_sums_before(cols, before)
    first = timeline.first_times()[cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, rating_sum / count, np.nan)
        age = np.where(count > 0, (before - first) / SECONDS_PER_DAY, np.nan)
    return np.column_stack([count, recent, mean, age, context.years[cols].astype(np.float64)])
