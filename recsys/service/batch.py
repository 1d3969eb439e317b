"""Batch inference: every user's top-K from one model, vectorised in chunks, written as CSV.

Used by ``recsys predict --all``. Each user's history is their rows of the interactions
export, so everything they rated is excluded, as in the single-user path. A user the model
cannot score (``recsys.service.fallback.can_score``: the API's rule) gets the fallback model's
list when one is given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys.data.frames import Interactions
from recsys.evaluation.splits import take
from recsys.modeling.base import PAD_ID, Recommender
from recsys.service.eligibility import RankingPlan
from recsys.service.fallback import can_score_batch

IdArray = npt.NDArray[np.int64]
CSV_HEADER = ("user_id", "movie_id", "rank", "score")
# Users per chunk: dense score blocks of at most ~4 Mi cells, between these bounds.
_CHUNK_CELLS = 1 << 22
_MIN_CHUNK = 64
_MAX_CHUNK = 2048


@dataclass(frozen=True)
class TopKChunk:
    """Top-K of a run of users: ids and scores padded with ``PAD_ID`` / -inf."""

    users: IdArray
    ids: IdArray
    scores: npt.NDArray[np.float32]
    # True where the fallback model answered for the user.
    fallback: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run wrote."""

    users: int
    rows: int
    fallback_users: int
    empty_users: int
    seconds: float


def count_users(interactions: Interactions) -> int:
    """How many distinct users ``interactions`` holds (the rows ``iter_top_k`` will write)."""
    return int(np.unique(interactions.user_ids).shape[0])


def iter_top_k(
    model: Recommender[Any],
    interactions: Interactions,
    *,
    k: int,
    fallback: Recommender[Any] | None = None,
    chunk_users: int | None = None,
    plan: RankingPlan | None = None,
    fallback_plan: RankingPlan | None = None,
) -> Iterator[TopKChunk]:
    """Top-``k`` of every user in ``interactions`` (sorted by id), one chunk of users at a time.

    ``plan`` / ``fallback_plan`` (``recsys.service.filters.ranking_plan`` of each model) apply a
    request's filters and diversity, as the API does for one user.
    """
    order = np.argsort(interactions.user_ids, kind="stable")
    rows = take(interactions, order)
    users = np.unique(rows.user_ids)
    chunk = chunk_users or int(
        np.clip(_CHUNK_CELLS // max(model.n_items, 1), _MIN_CHUNK, _MAX_CHUNK)
    )
    for start in range(0, users.shape[0], chunk):
        batch = users[start : start + chunk]
        lo = int(np.searchsorted(rows.user_ids, batch[0], side="left"))
        hi = int(np.searchsorted(rows.user_ids, batch[-1], side="right"))
        histories = take(rows, np.arange(lo, hi))
        ids, scores = _ranked(model, plan, batch, histories, k)
        used = np.zeros(batch.shape[0], dtype=np.bool_)
        if fallback is not None:
            # The API's rule (recsys.service.fallback), so a user gets the same kind of answer
            # here as from GET /users/{id}/recommendations.
            unscorable = ~can_score_batch(model, batch, histories)
            if unscorable.any():
                fb_ids, fb_scores = _ranked(
                    fallback, fallback_plan, batch[unscorable], histories, k
                )
                ids[unscorable], scores[unscorable] = fb_ids, fb_scores
                used = unscorable & (ids[:, 0] != PAD_ID)
        yield TopKChunk(batch, ids, scores, used)


def _ranked(
    model: Recommender[Any],
    plan: RankingPlan | None,
    users: IdArray,
    histories: Interactions,
    k: int,
) -> tuple[IdArray, npt.NDArray[np.float32]]:
    if plan is None:
        return model.recommend_batch(users, histories=histories, k=k)
    return plan.rank_batch(
        lambda n, allowed: model.recommend_batch(users, histories=histories, k=n, allowed=allowed),
        k,
    )


def write_top_k_csv(
    chunks: Iterator[TopKChunk],
    out: Path,
    *,
    advance: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Write ``user_id,movie_id,rank,score`` rows (rank 1 = best); the file appears complete."""
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    users = rows = fallback_users = empty_users = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            handle.write(",".join(CSV_HEADER) + "\n")
            for chunk in chunks:
                valid = chunk.ids != PAD_ID
                frame = pd.DataFrame(
                    {
                        "user_id": np.broadcast_to(chunk.users[:, None], valid.shape)[valid],
                        "movie_id": chunk.ids[valid],
                        "rank": np.broadcast_to(np.arange(1, valid.shape[1] + 1), valid.shape)[
                            valid
                        ],
                        "score": chunk.scores[valid],
                    }
                )
                frame.to_csv(handle, header=False, index=False, float_format="%.6g")
                users += int(chunk.users.shape[0])
                rows += int(valid.sum())
                fallback_users += int(chunk.fallback.sum())
                empty_users += int((~valid.any(axis=1)).sum())
                if advance is not None:
                    advance(int(chunk.users.shape[0]))
        # Renamed only when complete, so a reader never sees a half-written file.
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return BatchSummary(users, rows, fallback_users, empty_users, time.perf_counter() - started)
