"""Fit a model on a split's train part and score every test user with full rankings, in chunks.

The catalogue is the set of movies in the train part. Each model ranks, for every test user,
all catalogue movies the user has not interacted with in train (``recommend_batch`` with the
train rows as histories excludes them), in chunks of users so the dense score blocks stay
small. One pass yields the top-K metrics, NDCG@1..50 and, from the full ranking, AUC.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.evaluation import metrics
from recsys.evaluation.choices import check_int_option
from recsys.evaluation.splits import Split, take
from recsys.evaluation.statistics import Estimate, mean_ci, mean_ci_from_sums
from recsys.modeling.base import PAD_ID, Recommender
from recsys.modeling.dataset import build_matrix, lookup
from recsys.modeling.diversity import (
    genre_coverage,
    intra_list_diversity,
    mmr,
    pool_size,
    unit_rows,
)
from recsys.modeling.items import ItemAttributes
from recsys.modeling.registry import create_model, model_class
from recsys.modeling.weighting import WeightingKind

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Advance = Callable[[int], None]

# Per-user metrics, in report order (coverage is one number per model, not per user).
PER_USER_METRICS: tuple[str, ...] = (
    "hr",
    "recall",
    "precision",
    "ndcg",
    "map",
    "mrr",
    "auc",
    "novelty",
    "ild",
    "genre_coverage",
)
CURVE_K = 50
# Dense (users x width) blocks per chunk: 4 Mi cells, ~50 MB with ids, scores and hits.
_CHUNK_CELLS = 1 << 22
# recommend_batch's largest k: above it the full ranking (AUC) is skipped.
_MAX_WIDTH = 100_000


@dataclass(frozen=True)
class EvalData:
    """What every model of one split is evaluated against (built once, shared)."""

    # Catalogue: movie ids of the train part, sorted; metrics use positions in it.
    item_ids: IdArray
    # Evaluated users (every test user), sorted; rows of ``relevant``.
    users: IdArray
    relevant: sp.csr_matrix
    n_relevant: npt.NDArray[np.int64]
    # Catalogue items each user has not interacted with in train.
    n_candidates: npt.NDArray[np.int64]
    # Train rows sorted by user, so a chunk of users takes one contiguous slice.
    train: Interactions
    information: FloatArray
    n_train_users: int
    # (items, genres) 0/1 of the catalogue, when the dataset has genres (diversity metrics).
    genres: npt.NDArray[np.float32] | None = None

    @classmethod
    def from_split(cls, split: Split, items: ItemAttributes | None = None) -> EvalData:
        """Index the split's test pairs and train histories by catalogue position."""
        train = take(split.train, np.argsort(split.train.user_ids, kind="stable"))
        item_ids, item_users = np.unique(train.movie_ids, return_counts=True)
        train_users, per_user = np.unique(train.user_ids, return_counts=True)
        users, rows = np.unique(split.test.user_ids, return_inverse=True)
        cols = lookup(item_ids, split.test.movie_ids)
        if np.any(cols < 0):
            raise ValueError("the split's test part holds movies absent from its train part")
        relevant = sp.csr_matrix(
            (np.ones(cols.shape[0], np.float32), (rows, cols)),
            shape=(users.shape[0], item_ids.shape[0]),
        )
        relevant.sum_duplicates()
        history = lookup(train_users, users)
        if np.any(history < 0):
            raise ValueError("the split's test part holds users absent from its train part")
        return cls(
            item_ids=item_ids.astype(np.int64),
            users=users.astype(np.int64),
            relevant=relevant,
            n_relevant=metrics.relevant_counts(relevant),
            n_candidates=(item_ids.shape[0] - per_user[history]).astype(np.int64),
            train=train,
            information=metrics.self_information(item_users, int(train_users.shape[0])),
            n_train_users=int(train_users.shape[0]),
            genres=_genres(items, item_ids.astype(np.int64)),
        )

    @property
    def n_items(self) -> int:
        """Catalogue size."""
        return int(self.item_ids.shape[0])

    def histories(self, users: IdArray) -> Interactions:
        """The train rows of a sorted run of users (plus any users between them)."""
        lo = int(np.searchsorted(self.train.user_ids, users[0], side="left"))
        hi = int(np.searchsorted(self.train.user_ids, users[-1], side="right"))
        return take(self.train, np.arange(lo, hi))


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's per-user metrics on one split, its coverage, NDCG curve and timings."""

    model_type: str
    params: dict[str, Any]
    weighting: str
    k: int
    users: IdArray
    per_user: dict[str, FloatArray]
    coverage: float
    # NDCG@j for j = 1..CURVE_K: mean and CI half-width over users.
    ndcg_curve: FloatArray
    ndcg_curve_half_width: FloatArray
    fit_seconds: float
    eval_seconds: float
    notes: list[str] = field(default_factory=list)

    def estimates(self, *, level: float = 0.95) -> dict[str, Estimate]:
        """Mean and CI of each per-user metric."""
        return {name: mean_ci(values, level=level) for name, values in self.per_user.items()}


def default_weighting(model_type: str) -> WeightingKind:
    """The rating weighting ``recsys train`` uses for ``model_type``."""
    return model_class(model_type).default_weighting


def fit_model(
    model_type: str,
    train: Interactions,
    *,
    params: Mapping[str, Any] | None = None,
    weighting: WeightingKind | None = None,
    items: ItemAttributes | None = None,
) -> tuple[Recommender[Any], float]:
    """A ``model_type`` model fitted on ``train`` and the seconds it took (matrix included).

    ``items`` (movie years and genres) reach the models that read them.
    """
    model = create_model(model_type, dict(params or {}))
    started = time.perf_counter()
    matrix = build_matrix(train, weighting=weighting or default_weighting(model_type), items=items)
    model.fit(matrix)
    return model, time.perf_counter() - started


def evaluate_model(
    model: Recommender[Any],
    data: EvalData,
    *,
    k: int,
    with_auc: bool = True,
    fit_seconds: float = 0.0,
    advance: Advance | None = None,
    diversify: float = 0.0,
) -> ModelEvaluation:
    """Rank every catalogue candidate for every test user; per-user metrics at ``k``.

    ``diversify`` > 0 re-ranks each user's best ``pool_size`` items by MMR over genres (as the
    API's ``diversify``) before the metrics; AUC is then skipped (MMR orders only the pool).
    """
    check_int_option("k", k, low=1, high=1000)
    notes: list[str] = []
    if with_auc and model.n_items > _MAX_WIDTH:
        notes.append(f"AUC skipped: {model.n_items:,} items is too many to rank in full")
        with_auc = False
    unit = unit_rows(data.genres) if data.genres is not None else None
    if diversify > 0:
        if unit is None:
            raise ValueError("diversify needs the movies' genres; this dataset has none")
        notes.append(f"re-ranked by MMR over genres, diversify={diversify:g}")
        with_auc = False
    depth = max(k, CURVE_K)
    width = model.n_items if with_auc else min(depth, model.n_items)
    if diversify > 0:
        width = pool_size(depth, model.n_items)
    n_users = data.users.shape[0]
    chunk = max(1, _CHUNK_CELLS // max(width, 1))
    parts: dict[str, list[FloatArray]] = {name: [] for name in PER_USER_METRICS}
    curve_sum = np.zeros(CURVE_K)
    curve_squares = np.zeros(CURVE_K)
    recommended_items = np.zeros(data.n_items, dtype=np.bool_)
    started = time.perf_counter()
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        users = data.users[start:stop]
        ids, scores = model.recommend_batch(users, histories=data.histories(users), k=width)
        index = lookup(data.item_ids, ids)
        index[(ids == PAD_ID) | ~np.isfinite(scores)] = -1
        if diversify > 0 and unit is not None:
            index, scores = _diversified(index, scores, unit, depth, diversify)
        relevant = data.relevant[start:stop]
        n_relevant = data.n_relevant[start:stop]
        hits = metrics.hits_at(index, relevant)
        top = _columns(index, depth, fill=-1)
        top_hits = _columns(hits, depth, fill=False)
        for name, values in metrics.accuracy_metrics(top_hits[:, :k], n_relevant).items():
            parts[name].append(values)
        parts["novelty"].append(metrics.novelty(top[:, :k], data.information))
        if unit is not None and data.genres is not None:
            parts["ild"].append(intra_list_diversity(top[:, :k], unit).astype(np.float64))
            parts["genre_coverage"].append(
                genre_coverage(top[:, :k], data.genres).astype(np.float64)
            )
        if with_auc:
            parts["auc"].append(
                metrics.auc_from_ranking(
                    scores,
                    hits,
                    n_candidates=data.n_candidates[start:stop],
                    n_relevant=n_relevant,
                )
            )
        curve = metrics.ndcg_curve(top_hits[:, :CURVE_K], n_relevant)
        curve_sum += curve.sum(axis=0)
        curve_squares += (curve**2).sum(axis=0)
        shown = top[:, :k]
        recommended_items[shown[shown >= 0]] = True
        if advance is not None:
            advance(stop - start)
    eval_seconds = time.perf_counter() - started
    per_user = {
        name: np.concatenate(values) if values else np.full(n_users, np.nan)
        for name, values in parts.items()
    }
    mean, half = mean_ci_from_sums(curve_sum, curve_squares, n_users)
    return ModelEvaluation(
        model_type=model.model_type,
        params=model.params.to_dict(),
        weighting=model.data_info.get("weighting", {}).get("kind", "?"),
        k=k,
        users=data.users,
        per_user=per_user,
        coverage=float(recommended_items.sum() / data.n_items),
        ndcg_curve=mean,
        ndcg_curve_half_width=half,
        fit_seconds=fit_seconds,
        eval_seconds=eval_seconds,
        notes=notes,
    )


def _genres(items: ItemAttributes | None, item_ids: IdArray) -> npt.NDArray[np.float32] | None:
    # The catalogue's genre rows in catalogue order (movies without attributes: no genre).
    if items is None or not items.genre_names:
        return None
    rows = lookup(items.movie_ids, item_ids)
    out = np.zeros((item_ids.shape[0], len(items.genre_names)), dtype=np.float32)
    out[rows >= 0] = items.genres[rows[rows >= 0]]
    return out


def _diversified(
    index: npt.NDArray[np.intp],
    scores: npt.NDArray[np.float32],
    unit: npt.NDArray[np.float32],
    depth: int,
    diversify: float,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    # Each row's MMR pick of ``depth`` items from its ranked pool (-1 padding kept last).
    out = np.full((index.shape[0], depth), -1, dtype=np.intp)
    out_scores = np.full((index.shape[0], depth), -np.inf, dtype=np.float32)
    for row in range(index.shape[0]):
        valid = index[row] >= 0
        picked, picked_scores = mmr(index[row][valid], scores[row][valid], unit, depth, diversify)
        out[row, : picked.shape[0]] = picked
        out_scores[row, : picked.shape[0]] = picked_scores
    return out, out_scores


def _columns(array: npt.NDArray[Any], width: int, *, fill: Any) -> npt.NDArray[Any]:
    # The first ``width`` columns, padded with ``fill`` when the ranking is shorter.
    if array.shape[1] >= width:
        return array[:, :width]
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out
