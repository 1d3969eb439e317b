"""``two_stage``: candidate sources (sequence-aware and factor models) + a LambdaRank ranker.

Fit, on the training rows it is given:

1. "base" = the training rows minus every user's latest ``periods`` rows and minus a
   pseudo-random ``holdout_share`` of every user's rows; the candidate sources are fit on base,
   so no ranker positive (and no later row of that user) is in them;
2. ranker groups of two kinds, because a served model meets both and cannot tell them apart:
   - "next item": for each user and p = 1..periods, the history before the user's p-th latest
     row proposes candidates (the union of every source's top ``per_source``, EASE's top
     ``ease_per_source``); the p-th latest row's movie is the positive; features read only that
     history and item statistics from rows strictly before its end (features.py);
   - "scattered": each user's rows minus the held-out share are the history, the held-out
     rows (anywhere in time, several per group) are the positives; the held-out rows are
     subtracted from the item statistics, so the features never see them;
3. LightGBM lambdarank on those groups, early-stopped on a held-out share of users (their AUC
   is kept in ``diagnostics``);
4. the sources are refit on all the training rows, and the ranker scores their candidates.

The ranker is stored in LightGBM's own text format (as bytes inside ranker.npz), never pickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import CHUNK_CELLS, History, Recommender
from recsys.modeling.candidates.recent_popularity import RecentPopularityRecommender
from recsys.modeling.dataset import (
    FloatArray,
    IdArray,
    IndexArray,
    InteractionMatrix,
    Weighting,
    lookup,
)
from recsys.modeling.ease import EASERecommender
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.params import ModelParams
from recsys.modeling.sequences import Sequences, training_sequences
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.topk import check_k
from recsys.modeling.two_stage.candidates import (
    CandidateSet,
    concat_candidates,
    gather_candidates,
)
from recsys.modeling.two_stage.diagnostics import ranker_diagnostics
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
from recsys.modeling.two_stage.ranker import RankerGroups, train_ranker
from recsys.modeling.two_stage.serving import (
    ServingModel,
    dense_row,
    explain_anchors,
    top_k_answer,
)
from recsys.modeling.two_stage.serving_arrays import CSRArrays, OneHistory
from recsys.modeling.two_stage.serving_sources import (
    PopularitySource,
    RecencySource,
    serving_source,
)
from recsys.modeling.two_stage.sources import (
    SOURCES,
    BoolArray,
    base_interactions,
    check_sources,
    fit_sources,
    sequence_neighbours,
)
from recsys.modeling.weighting import WeightingKind


class TwoStageRecommender(Recommender[TwoStageParams]):
    """Union of the candidate sources' top-N, ranked by a LightGBM LambdaRank model."""

    # Each of its candidate sources applies its own weighting to the raw ratings.
    default_weighting: ClassVar[WeightingKind] = "binary"
    # 18 toy users leave 3-4 for early stopping, which then stops after 3-4 trees at the
    # default learning rate 0.05: too few to separate anything (ties everywhere, the order
    # hanging on one feature's noise). Half the users for validation and bigger steps give the
    # ranker 13 trees and the obvious answers.
    example_params: ClassVar[Mapping[str, Any]] = {
        "per_source": 10,
        "periods": 3,
        "min_child_samples": 5,
        "num_threads": 1,
        "learning_rate": 0.3,
        "validation_share": 0.5,
    }

    model_type: ClassVar[str] = "two_stage"
    params_type: ClassVar[type[ModelParams]] = TwoStageParams
    needs_sequence: ClassVar[bool] = True
    needs_items: ClassVar[bool] = True

    def __init__(self, params: TwoStageParams | None = None) -> None:
        super().__init__(params)
        self._sources: dict[str, Recommender[Any]] | None = None
        self._context: FeatureContext | None = None
        self._ranker: lgb.Booster | None = None
        self._neighbours: sp.csr_matrix | None = None
        # The one-request path's arrays, built once per fit or load (serving.py).
        self._serving: ServingModel | None = None
        self._popularity: tuple[Recommender[Any], PopularitySource] | None = None
        # Fit-time figures: validation AUC / NDCG@10, best iteration, gain per feature,
        # candidate recall on the ranker's groups.
        self.diagnostics: dict[str, Any] = {}

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, matrix: InteractionMatrix) -> Self:
        """``Recommender.fit``, and what the catalogue size chose recorded in ``data_info``
        (the manifest's ``data``): EASE's item cover and the ranker's user sample."""
        super().fit(matrix)
        ease = self.sources["ease"]
        assert isinstance(ease, EASERecommender)
        self.data_info["ease_items"] = int(
            ease.n_items if ease.subset is None else ease.subset.shape[0]
        )
        self.data_info["ranker_users"] = int(self.diagnostics.get("ranker_users", 0))
        return self

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None and matrix.items is not None  # checked by fit
        # Every size check first: a refusal costs nothing and is one line.
        check_sources(matrix.shape[1], ease_items=self.params.ease_items)
        source = matrix.source
        sequences = training_sequences(source, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
        self._context = self.feature_context(matrix, sequences)
        withheld = self.scattered_holdout(matrix, sequences)
        base = base_interactions(matrix, self.params.periods, withheld=withheld)
        base_sources = fit_sources(base, matrix, ease_items=self.params.ease_items)
        among = self.ranker_sample(sequences.n_rows)
        groups = self.ranker_groups(base_sources, self._context, sequences, withheld, among=among)
        del base_sources
        self._ranker, split = train_ranker(groups, self.params)
        self.diagnostics = ranker_diagnostics(self._ranker, groups, split)
        self.diagnostics["ranker_users"] = int(np.unique(groups.users).shape[0])
        del groups
        self._sources = fit_sources(source, matrix, ease_items=self.params.ease_items)
        self._neighbours = None
        self._serving = None

    def ranker_sample(self, n_users: int) -> IndexArray | None:
        """The user rows whose groups train the ranker: all (None) up to ``ranker_users``,
        else a fixed pseudo-random sample of that many (seeded by ``random_state``)."""
        if n_users <= self.params.ranker_users:
            return None
        rng = np.random.default_rng(self.params.random_state)
        chosen = rng.choice(n_users, size=self.params.ranker_users, replace=False)
        return np.sort(chosen).astype(np.intp)

    def feature_context(self, matrix: InteractionMatrix, sequences: Sequences) -> FeatureContext:
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
            recent_days=self.params.recent_days,
            last_items=self.params.last_items,
        )

    def scattered_holdout(self, matrix: InteractionMatrix, sequences: Sequences) -> BoolArray:
        """Per entry of ``sequences``: held out as a positive of its user's scattered group.

        A pseudo-random draw per (user id, movie id, time, seed), so deleting other rows never
        changes which rows are held out; a user who would be left with no history keeps all rows.
        """
        if self.params.holdout_share <= 0.0:
            return np.zeros(sequences.cols.shape[0], dtype=np.bool_)
        rows = sequences.rows()
        draw = stable_uniform(
            matrix.user_ids[rows],
            matrix.item_ids[sequences.cols],
            sequences.times,
            seed=self.params.random_state,
        )
        held = draw < self.params.holdout_share
        n_held = np.bincount(rows, held, minlength=sequences.n_rows)
        held &= (n_held < sequences.lengths)[rows]
        return held

    def ranker_groups(
        self,
        sources: Mapping[str, Recommender[Any]],
        context: FeatureContext,
        sequences: Sequences,
        withheld: BoolArray | None = None,
        *,
        among: IndexArray | None = None,
    ) -> RankerGroups:
        """Candidates, features and labels of every group of ``sequences``' users.

        Next-item groups: period p's history is the user's rows before the p-th latest one,
        which is the positive. Scattered groups (users with ``withheld`` rows): the history is
        the user's other rows, the positives are the withheld ones. ``among``: only these
        users' groups (sorted user rows; None: everyone's).
        """
        users, label_pos = label_positions(sequences, self.params.periods)
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
        candidates, features = self.candidate_features(
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
        self,
        sources: Mapping[str, Recommender[Any]],
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
        neighbours = self._neighbours_of(sources)
        chunk = max(1, CHUNK_CELLS // max(context.years.shape[0], 1))
        if sequences.n_rows <= chunk:
            candidates = self._candidates(sources, users, sequences)
            features = build_features(
                context, sequences, candidates, neighbours=neighbours, withheld=withheld
            )
            return candidates, features
        parts: list[tuple[CandidateSet, npt.NDArray[np.float32]]] = []
        for start in range(0, sequences.n_rows, chunk):
            stop = min(start + chunk, sequences.n_rows)
            part = sequences.slice(start, stop)
            found = self._candidates(sources, users[start:stop], part)
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

    def _neighbours_of(self, sources: Mapping[str, Recommender[Any]]) -> sp.csr_matrix:
        # The served sources' matrix is built once (it is per request otherwise).
        if sources is not self._sources:
            return sequence_neighbours(sources)
        if self._neighbours is None:
            self._neighbours = sequence_neighbours(sources)
        return self._neighbours

    def _candidates(
        self, sources: Mapping[str, Recommender[Any]], users: IndexArray, sequences: Sequences
    ) -> CandidateSet:
        rows = sequences.rows()
        n_items = next(iter(sources.values())).n_items
        raw = sp.csr_matrix(
            (sequences.ratings, (rows, sequences.cols)), shape=(sequences.n_rows, n_items)
        )
        return gather_candidates(
            sources,
            user_index=users,
            raw=raw,
            sequences=sequences,
            per_source=self._per_source(sources),
            scorers={"recent_popularity": self._popularity_of(sources).batch_scores},
        )

    def _popularity_of(self, sources: Mapping[str, Recommender[Any]]) -> PopularitySource:
        # scores_at's 2 x rows x items binary searches take hours at 62k items; the window's
        # rows, counted once per row, give the same integers (built once per source model).
        model = sources["recent_popularity"]
        assert isinstance(model, RecentPopularityRecommender)
        if self._popularity is None or self._popularity[0] is not model:
            self._popularity = (model, PopularitySource.of(model))
        return self._popularity[1]

    # -- scoring ------------------------------------------------------------------------------

    @property
    def sources(self) -> dict[str, Recommender[Any]]:
        """The candidate sources, fit on all the training rows."""
        if self._sources is None:
            raise NotFittedError("two_stage model is not fitted: call fit() or load()")
        return self._sources

    @property
    def context(self) -> FeatureContext:
        """Item timeline and attributes the features read."""
        if self._context is None:
            raise NotFittedError("two_stage model is not fitted: call fit() or load()")
        return self._context

    @property
    def ranker(self) -> lgb.Booster:
        """The trained LightGBM booster."""
        if self._ranker is None:
            raise NotFittedError("two_stage model is not fitted: call fit() or load()")
        return self._ranker

    def _default_time(self) -> int:
        return self.context.timeline.latest_time() + 1

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # Only reached without sequences; the base class always passes them to this model.
        raise NotImplementedError("two_stage scores through _score_sequences")

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        candidates, features = self.candidate_features(
            self.sources, self.context, user_index, sequences
        )
        ranked = np.asarray(self.ranker.predict(features, num_threads=1), dtype=np.float32)
        return _dense_scores(candidates, ranked, sequences.n_rows, self._fallback())

    def recommend(
        self, user_id: int, *, history: History | None = None, k: int = 10
    ) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) for one user: ``recommend_batch``'s answer for one row,
        computed with numpy gathers over arrays prepared at fit/load time (serving.py)."""
        check_k(k)
        history = history if history is not None else History.empty()
        serving = self.serving_model()
        one = OneHistory.of(history, self.item_ids, default_time=serving.default_time)
        candidates, ranked = self._rank_one(one, int(lookup(self.user_ids, [user_id])[0]))
        top, scores = top_k_answer(candidates, ranked, serving.fallback, one.seen, k)
        return self.item_ids[top], scores

    def _rank_one(
        self, one: OneHistory, user_index: int
    ) -> tuple[CandidateSet, npt.NDArray[np.float32]]:
        # One history's candidates and their ranker scores.
        serving = self.serving_model()
        candidates = serving.candidates(one, user_index)
        ranked = np.zeros(0, dtype=np.float32)
        if candidates.n_pairs:
            features = serving.features(one, candidates)
            ranked = np.asarray(self.ranker.predict(features, num_threads=1), dtype=np.float32)
        return candidates, ranked

    def serving_model(self) -> ServingModel:
        """The arrays the one-request path reads (built on first use after fit or load)."""
        if self._serving is None:
            sources = self.sources
            self._serving = ServingModel(
                sources={name: serving_source(model) for name, model in sources.items()},
                per_source=self._per_source(sources),
                context=self.context,
                neighbours=CSRArrays.of(self._neighbours_of(sources)),
                fallback=self._fallback(),
                default_time=self._default_time(),
            )
        return self._serving

    def _per_source(self, sources: Mapping[str, Recommender[Any]]) -> dict[str, int]:
        return {
            name: self.params.ease_per_source if name == "ease" else self.params.per_source
            for name in sources
        }

    def candidates_for(self, sequences: Sequences, user_index: IndexArray) -> CandidateSet:
        """The union of the sources' candidates for histories (for recall diagnostics)."""
        return self._candidates(self.sources, user_index, sequences)

    def _fallback(self) -> FloatArray:
        # All-time popularity share in [0, 1): orders the items no source proposed.
        totals = np.diff(self.context.timeline.item_starts).astype(np.float64)
        share: FloatArray = (totals / (totals.max() + 1.0)).astype(np.float32)
        return share

    def anchor_window(self) -> tuple[int | None, float]:
        # The transitions source's window: its anchors are the first the reasons come from.
        source = self.sources.get("transitions")
        return source.anchor_window() if source is not None else (None, 1.0)

    def explain(self, history: History, movie_ids: npt.ArrayLike) -> IdArray:
        """``Recommender.explain`` from the serving arrays of the transitions and recent_knn
        sources (the same anchors, no scipy slicing per request)."""
        last, recency = self.anchor_window()
        serving = self.serving_model()
        matrices = [
            source.matrix
            for name in ("transitions", "recent_knn")
            if isinstance(source := serving.sources.get(name), RecencySource)
        ]
        return explain_anchors(
            self.item_ids, matrices, history, movie_ids, last=last, recency=recency
        )

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        # What follows the user's recent movies explains best; similarity covers the rest.
        sources = self.sources
        return tuple(
            matrix
            for name in ("transitions", "recent_knn")
            if name in sources
            for matrix in sources[name].explaining_matrices()
        )

    def _similar(self, item_index: int) -> FloatArray:
        # What the ranker would rank after a history of just this movie, watched now.
        serving = self.serving_model()
        now = serving.default_time - 1
        one = OneHistory.of_row(
            np.array([item_index], dtype=np.intp),
            np.array([now], dtype=np.int64),
            np.array([5.0], dtype=np.float32),
            now,
        )
        candidates, ranked = self._rank_one(one, -1)
        return dense_row(candidates, ranked, serving.fallback)

    def similar_reference(self, item_index: int) -> FloatArray:
        """``_similar`` by the batch path (scipy products): what the tests compare it with."""
        sequences = Sequences(
            indptr=np.array([0, 1], dtype=np.int64),
            cols=np.array([item_index], dtype=np.intp),
            times=np.array([self._default_time() - 1], dtype=np.int64),
            ratings=np.array([5.0], dtype=np.float32),
            reference_times=np.array([self._default_time() - 1], dtype=np.int64),
        )
        scores = self._score_sequences(
            np.array([-1], dtype=np.intp), sp.csr_matrix((1, 1)), sequences
        )
        row: FloatArray = scores[0]
        return row

    # -- persistence --------------------------------------------------------------------------

    def _state_arrays(self) -> StateArrays:
        text = self.ranker.model_to_string()
        state: StateArrays = {
            "ranker": {
                "model_text": np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
            },
            "timeline": self.context.timeline.to_arrays(),
            "items": {"years": self.context.years, "genres": self.context.genres},
        }
        for name, model in self.sources.items():
            for stem, arrays in model.to_state().items():
                state[f"source-{name}-{stem}"] = arrays
        return state

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        n = self.n_items
        text = np.asarray(require_arrays(state, "ranker", ("model_text",))["model_text"], np.uint8)
        try:
            self._ranker = lgb.Booster(model_str=text.tobytes().decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise ModelStateError(f"ranker.npz: not a LightGBM text model: {exc}") from exc
        items = require_arrays(state, "items", ("years", "genres"))
        years = np.asarray(items["years"], dtype=np.float32)
        genres = np.asarray(items["genres"], dtype=np.float32)
        if years.shape != (n,) or genres.ndim != 2 or genres.shape[0] != n:
            raise ModelStateError(f"items.npz: years/genres do not fit {n} items")
        self._context = FeatureContext(
            timeline=ItemTimeline.from_state(state, "timeline", n_items=n),
            years=years,
            genres=genres,
            recent_days=self.params.recent_days,
            last_items=self.params.last_items,
        )
        sources: dict[str, Recommender[Any]] = {}
        for name, (cls, weighting) in SOURCES.items():
            prefix = f"source-{name}-"
            part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            info = {"weighting": Weighting(kind=weighting).to_dict()}
            sources[name] = cls.from_state({}, info, part)
        self._sources = sources
        self._neighbours = None
        # A loaded model is about to serve: its first request should not pay for this.
        self._serving = None
        self.serving_model()


def _dense_scores(
    candidates: CandidateSet, ranked: FloatArray, n_rows: int, fallback: FloatArray
) -> FloatArray:
    # Candidates get the ranker's score; every other item ranks below them, by popularity.
    floor = np.zeros(n_rows, dtype=np.float32)
    if candidates.n_pairs:
        lowest = np.full(n_rows, np.inf, dtype=np.float32)
        np.minimum.at(lowest, candidates.rows, ranked)
        floor = np.where(np.isfinite(lowest), lowest, 0.0).astype(np.float32)
    scores = (floor[:, None] - 2.0 + fallback[None, :]).astype(np.float32)
    scores[candidates.rows, candidates.cols] = ranked
    return scores
