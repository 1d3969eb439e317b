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
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import PAD_ID, Histories, History, Recommender
from recsys.modeling.dataset import (
    BoolArray,
    FloatArray,
    IdArray,
    IndexArray,
    InteractionMatrix,
    Weighting,
    lookup,
)
from recsys.modeling.ease import EASERecommender
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.history import per_user_histories
from recsys.modeling.params import ModelParams
from recsys.modeling.sequences import Sequences, training_sequences
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.timeline import ItemTimeline
from recsys.modeling.topk import check_allowed, check_k
from recsys.modeling.two_stage.candidates import CandidateSet
from recsys.modeling.two_stage.diagnostics import ranker_diagnostics
from recsys.modeling.two_stage.features import FeatureContext
from recsys.modeling.two_stage.params import TwoStageParams
from recsys.modeling.two_stage.ranker import train_ranker
from recsys.modeling.two_stage.serving import (
    ServingModel,
    dense_row,
    explain_anchors,
    top_k_answer,
)
from recsys.modeling.two_stage.serving_arrays import CSRArrays, OneHistory
from recsys.modeling.two_stage.serving_sources import RecencySource, serving_source
from recsys.modeling.two_stage.sources import (
    base_rows,
    check_sources,
    fit_sources,
    source_table,
)
from recsys.modeling.two_stage.training_data import (
    CandidateSources,
    candidate_features,
    feature_context,
    ranker_groups,
    ranker_sample,
    scattered_holdout,
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
    size_limited: ClassVar[bool] = True

    def __init__(self, params: TwoStageParams | None = None) -> None:
        super().__init__(params)
        self._sources: dict[str, Recommender[Any]] | None = None
        self._context: FeatureContext | None = None
        self._ranker: lgb.Booster | None = None
        self._candidate_sources: CandidateSources | None = None
        # The one-request path's arrays, built once per fit or load (serving.py).
        self._serving: ServingModel | None = None
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

    def check_catalogue(self, n_items: int) -> None:
        check_sources(n_items, ease_items=self.params.ease_items)

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None and matrix.items is not None  # checked by fit
        # Every size check first: a refusal costs nothing and is one line.
        self.check_catalogue(matrix.shape[1])
        source = matrix.source
        sequences = training_sequences(source, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
        self._context = feature_context(matrix, sequences, self.params)
        withheld = scattered_holdout(matrix, sequences, self.params)
        # Each training_sequences is a sort of every row (minutes at 25M): built once here,
        # the base rows' taken from it, and both handed to the sequence sources.
        base, base_sequences = base_rows(matrix, sequences, self.params.periods, withheld=withheld)
        base_sources = CandidateSources(
            fit_sources(
                base,
                matrix,
                ease_items=self.params.ease_items,
                sequences=base_sequences,
                sasrec=self.params.sasrec_source,
            ),
            self.params,
        )
        del base_sequences
        among = ranker_sample(sequences.n_rows, self.params)
        groups = ranker_groups(
            base_sources,
            self._context,
            sequences,
            withheld,
            periods=self.params.periods,
            among=among,
        )
        del base_sources
        self._ranker, split = train_ranker(groups, self.params)
        self.diagnostics = ranker_diagnostics(self._ranker, groups, split)
        self.diagnostics["ranker_users"] = int(np.unique(groups.users).shape[0])
        del groups
        self._sources = fit_sources(
            source,
            matrix,
            ease_items=self.params.ease_items,
            sequences=sequences,
            sasrec=self.params.sasrec_source,
        )
        self._candidate_sources = None
        self._serving = None

    def _served(self) -> CandidateSources:
        # The served sources' candidate arrays are built once (they are per request otherwise).
        if self._candidate_sources is None:
            self._candidate_sources = CandidateSources(self.sources, self.params)
        return self._candidate_sources

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
        candidates, features = candidate_features(
            self._served(), self.context, user_index, sequences
        )
        ranked = np.asarray(self.ranker.predict(features, num_threads=1), dtype=np.float32)
        return _dense_scores(candidates, ranked, sequences.n_rows, self._fallback())

    def recommend(
        self,
        user_id: int,
        *,
        history: History | None = None,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) for one user: ``recommend_batch``'s answer for one row,
        computed with numpy gathers over arrays prepared at fit/load time (serving.py).

        With ``allowed``, each source proposes only allowed items (its per-source quota is
        filled from them), so the ranker ranks a full candidate set of eligible movies.
        """
        check_k(k)
        check_allowed(allowed, self.n_items)
        history = history if history is not None else History.empty()
        serving = self.serving_model()
        one = OneHistory.of(history, self.item_ids, default_time=serving.default_time)
        candidates, ranked = self._rank_one(
            one, int(lookup(self.user_ids, [user_id])[0]), allowed=allowed
        )
        top, scores = top_k_answer(
            candidates, ranked, serving.fallback, one.seen, k, allowed=allowed
        )
        return self.item_ids[top], scores

    def recommend_batch(
        self,
        user_ids: npt.ArrayLike,
        *,
        histories: Histories,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """The base batch path; with ``allowed``, one ``recommend`` per user instead, so the
        candidates are filtered before ranking there too (not masked after it)."""
        if allowed is None:
            return super().recommend_batch(user_ids, histories=histories, k=k)
        check_k(k)
        check_allowed(allowed, self.n_items)
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        out_ids = np.full((users.shape[0], k), PAD_ID, dtype=np.int64)
        out_scores = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
        for row, history in enumerate(per_user_histories(users, histories)):
            ids, scores = self.recommend(int(users[row]), history=history, k=k, allowed=allowed)
            out_ids[row, : ids.shape[0]] = ids
            out_scores[row, : ids.shape[0]] = scores
        return out_ids, out_scores

    def _rank_one(
        self, one: OneHistory, user_index: int, *, allowed: BoolArray | None = None
    ) -> tuple[CandidateSet, npt.NDArray[np.float32]]:
        # One history's candidates and their ranker scores.
        serving = self.serving_model()
        candidates = serving.candidates(one, user_index, allowed=allowed)
        ranked = np.zeros(0, dtype=np.float32)
        if candidates.n_pairs:
            features = serving.features(one, candidates)
            ranked = np.asarray(self.ranker.predict(features, num_threads=1), dtype=np.float32)
        return candidates, ranked

    def serving_model(self) -> ServingModel:
        """The arrays the one-request path reads (built on first use after fit or load)."""
        if self._serving is None:
            served = self._served()
            self._serving = ServingModel(
                sources={name: serving_source(model) for name, model in served.sources.items()},
                per_source=served.per_source,
                context=self.context,
                neighbours=CSRArrays.of(served.neighbours),
                fallback=self._fallback(),
                default_time=self._default_time(),
            )
        return self._serving

    def candidates_for(self, sequences: Sequences, user_index: IndexArray) -> CandidateSet:
        """The union of the sources' candidates for histories (for recall diagnostics)."""
        return self._served().candidates(user_index, sequences)

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
        for name, (cls, weighting) in source_table(sasrec=self.params.sasrec_source).items():
            prefix = f"source-{name}-"
            part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            info = {"weighting": Weighting(kind=weighting).to_dict()}
            sources[name] = cls.from_state({}, info, part)
        self._sources = sources
        self._candidate_sources = None
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
