"""The training-data side of ``two_stage``: the ranker's groups, their candidates and features.

Functions over explicit arguments (model.py calls them from ``fit`` and from the batch scoring
path; the leakage tests call them on sources they fit themselves). ``CandidateSources`` is one
set of fitted sources with what their candidate gathering needs, built lazily and once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import CHUNK_CELLS, Recommender
from recsys.modeling.candidates.recent_popularity import RecentPopularityRecommender
from recsys.modeling.dataset import IndexArray, InteractionMatrix
from recsys.modeling.sequences import Sequences
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.two_stage.candidates import (
    CandidateSet,
    concat_candidates,
    gather_candidates,
)
from recsys.modeling.two_stage.features import FeatureContext, build_features
from recsys.modeling.two_stage.params import TwoStageParams
from recsys.modeling.two_stage.periods import (
    concat_sequences,
    label_positions,
    pick_entries,
    slice_sequences,
    stable_uniform,
    subset_sequences,
)
from recsys.modeling.two_stage.ranker import RankerGroups
from recsys.modeling.two_stage.serving_sources import PopularitySource
from recsys.modeling.two_stage.sources import BoolArray, sequence_neighbours


class CandidateSources:
    """Fitted candidate sources, each one's depth, and the arrays built from them once."""

    def __init__(self, sources: Mapping[str, Recommender[Any]], params: TwoStageParams) -> None:
        self.sources = sources
        self.per_source = {
            name: params.ease_per_source if name == "ease" else params.per_source
            for name in sources
        }
        self._neighbours: sp.csr_matrix | None = None
        self._popularity: PopularitySource | None = None

    @property
    def n_items(self) -> int:
        return next(iter(self.sources.values())).n_items

    @property
    def neighbours(self) -> sp.csr_matrix:
        """The transitions matrix plus its transpose (a feature; built on first use)."""
        if self._neighbours is None:
            self._neighbours = sequence_neighbours(self.sources)
        return self._neighbours

    @property
    def popularity(self) -> PopularitySource:
        # scores_at's 2 x rows x items binary searches take hours at 62k items; the window's
        # rows, counted once per row, give the same integers (built on first use).
        if self._popularity is None:
            model = self.sources["recent_popularity"]
            assert isinstance(model, RecentPopularityRecommender)
            self._popularity = PopularitySource.of(model)
        return self._popularity

    def candidates(self, users: IndexArray, sequences: Sequences) -> CandidateSet:
        """The union of the sources' candidates for each history of ``sequences``."""
        rows = sequences.rows()
        raw = sp.csr_matrix(
            (sequences.ratings, (rows, sequences.cols)), shape=(sequences.n_rows, self.n_items)
        )
        return gather_candidates(
            self.sources,
            user_index=users,
            raw=raw,
            sequences=sequences,
            per_source=self.per_source,
            scorers={"recent_popularity": self.popularity.batch_scores},
        )


def ranker_sample(n_users: int, params: TwoStageParams) -> IndexArray | None:
    """The user rows whose groups train the ranker: all (None) up to ``ranker_users``, else a
    fixed pseudo-random sample of that many (seeded by ``random_state``)."""
    if n_users <= params.ranker_users:
        return None
    rng = np.random.default_rng(params.random_state)
    chosen = rng.choice(n_users, size=params.ranker_users, replace=False)
    return np.sort(chosen).astype(np.intp)


def feature_context(
    matrix: InteractionMatrix, sequences: Sequences, params: TwoStageParams
) -> FeatureContext:
    """Item timeline of ``sequences`` and the item attributes of ``matrix``."""
    if matrix.items is None:
        raise ValueError("two_stage needs movie years and genres (matrix.items)")
    years, genres = matrix.items.aligned(matrix.item_ids)
    timeline = ItemTimeline.build(
        sequences.cols, sequences.times, sequences.ratings, n_items=matrix.shape[1]
    )
    return FeatureContext(
        timeline=timeline,
        years=years,
        genres=genres,
        recent_days=params.recent_days,
        last_items=params.last_items,
    )


def scattered_holdout(
    matrix: InteractionMatrix, sequences: Sequences, params: TwoStageParams
) -> BoolArray:
    """Per entry of ``sequences``: held out as a positive of its user's scattered group.

    A pseudo-random draw per (user id, movie id, time, seed), so deleting other rows never
    changes which rows are held out; a user who would be left with no history keeps all rows.
    """
    if params.holdout_share <= 0.0:
        return np.zeros(sequences.cols.shape[0], dtype=np.bool_)
    rows = sequences.rows()
    draw = stable_uniform(
        matrix.user_ids[rows],
        matrix.item_ids[sequences.cols],
        sequences.times,
        seed=params.random_state,
    )
    held = draw < params.holdout_share
    n_held = np.bincount(rows, held, minlength=sequences.n_rows)
    held &= (n_held < sequences.lengths)[rows]
    return held


def ranker_groups(
    sources: CandidateSources,
    context: FeatureContext,
    sequences: Sequences,
    withheld: BoolArray | None = None,
    *,
    periods: int,
    among: IndexArray | None = None,
) -> RankerGroups:
    """Candidates, features and labels of every group of ``sequences``' users.

    Next-item groups: period p's history is the user's rows before the p-th latest one (p =
    1..``periods``), which is the positive. Scattered groups (users with ``withheld`` rows):
    the history is the user's other rows, the positives are the withheld ones. ``among``: only
    these users' groups (sorted user rows; None: everyone's).
    """
    users, label_pos = label_positions(sequences, periods)
    if among is not None:
        picked = np.isin(users, among)
        users, label_pos = users[picked], label_pos[picked]
    starts = sequences.indptr[users]
    prefix = slice_sequences(sequences, starts, label_pos)
    labels_next = pick_entries(sequences, label_pos, np.ones(users.shape[0], np.int64))
    kinds = [np.zeros(users.shape[0], dtype=np.int8)]
    group_users, histories, positives = [users], [prefix], [labels_next]
    if withheld is not None and withheld.any():
        entry_rows = sequences.rows()
        scattered = np.flatnonzero(np.bincount(entry_rows, withheld, sequences.n_rows) > 0)
        scattered = scattered.astype(np.intp)
        if among is not None:
            scattered = scattered[np.isin(scattered, among)]
        of_group = np.isin(entry_rows, scattered)
        histories.append(subset_sequences(sequences, of_group & ~withheld, scattered))
        positives.append(subset_sequences(sequences, of_group & withheld, scattered))
        group_users.append(scattered)
        kinds.append(np.ones(scattered.shape[0], dtype=np.int8))
    all_users = np.concatenate(group_users).astype(np.intp)
    history = concat_sequences(histories)
    positive = concat_sequences(positives)
    candidates, features = candidate_features(
        sources, context, all_users, history, withheld=positive
    )
    n_items = context.years.shape[0]
    positive_keys = positive.rows().astype(np.int64) * n_items + positive.cols
    pair_keys = candidates.rows.astype(np.int64) * n_items + candidates.cols
    labels = np.isin(pair_keys, positive_keys).astype(np.float32)
    return RankerGroups(
        users=all_users,
        kinds=np.concatenate(kinds),
        sequences=history,
        positives=positive,
        candidates=candidates,
        features=features,
        labels=labels,
    )


def candidate_features(
    sources: CandidateSources,
    context: FeatureContext,
    users: IndexArray,
    sequences: Sequences,
    *,
    withheld: Sequences | None = None,
) -> tuple[CandidateSet, npt.NDArray[np.float32]]:
    """The sources' candidates for each history and their ranker features.

    ``withheld``: rows of each history's user kept out of the item statistics (features.py).
    Rows go in chunks of ``CHUNK_CELLS`` dense scores (the sources score every item).
    """
    neighbours = sources.neighbours
    chunk = max(1, CHUNK_CELLS // max(context.years.shape[0], 1))
    if sequences.n_rows <= chunk:
        candidates = sources.candidates(users, sequences)
        features = build_features(
            context, sequences, candidates, neighbours=neighbours, withheld=withheld
        )
        return candidates, features
    parts: list[tuple[CandidateSet, npt.NDArray[np.float32]]] = []
    for start in range(0, sequences.n_rows, chunk):
        stop = min(start + chunk, sequences.n_rows)
        part = sequences.slice(start, stop)
        found = sources.candidates(users[start:stop], part)
        parts.append(
            (
                replace(found, rows=found.rows + start),
                build_features(
                    context,
                    part,
                    found,
                    neighbours=neighbours,
                    withheld=None if withheld is None else withheld.slice(start, stop),
                ),
            )
        )
    return concat_candidates([c for c, _ in parts]), np.concatenate([f for _, f in parts])
