"""The one recommender interface every model implements (modelled on implicit's RecommenderBase).

Ids in and out are movie/user ids, never matrix indices. The caller passes each user's
history (from the database at request time) so that anything the user has rated is
excluded, including ratings added after training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.dataset import (
    BoolArray,
    FittedWeighting,
    FloatArray,
    IdArray,
    IndexArray,
    InteractionMatrix,
    Weighting,
    lookup,
    lookup_one,
    without_negatives,
)
from recsys.modeling.errors import NotFittedError
from recsys.modeling.explain import anchors, scipy_block
from recsys.modeling.history import (
    Histories,
    History,
    HistoryColumns,
    HistoryRow,
    history_columns,
    history_matrices,
    history_row,
    history_sequences,
)
from recsys.modeling.params import ModelParams
from recsys.modeling.search import SearchSpace
from recsys.modeling.sequences import Sequences
from recsys.modeling.state import (
    Arrays,
    StateArrays,
    restore_vocab,
    restore_weighting,
    vocab_state,
)
from recsys.modeling.topk import PAD_ID, check_allowed, check_k, top_k
from recsys.modeling.weighting import WeightingKind

# What model modules import from here: the interface, and the pieces it is built from.
__all__ = [
    "PAD_ID",
    "Arrays",
    "Histories",
    "History",
    "HistoryRow",
    "Recommender",
    "StateArrays",
    "top_k",
]

P = TypeVar("P", bound=ModelParams)

# Dense score blocks are at most this many floats (64 MiB of float32) per chunk of users.
CHUNK_CELLS = 1 << 24


class Recommender(ABC, Generic[P]):
    """fit, recommend(_batch), similar_items, to/from_state, on movie and user ids."""

    model_type: ClassVar[str]
    params_type: ClassVar[type[ModelParams]]
    # False for baselines whose ranking ignores the user (popularity).
    personalised: ClassVar[bool] = True
    # True for models that read the order and timing of histories: they must be fit on a
    # matrix with ``source`` rows and score through ``_score_sequences``.
    needs_sequence: ClassVar[bool] = False
    # True for models that read movie years and genres: fit needs ``matrix.items``.
    needs_items: ClassVar[bool] = False
    # True for models whose training reads negative interaction weights (dislikes) as
    # negative feedback (implicit's ALS: preference 0 held with confidence |weight|). The
    # others train on the positive part only (dislikes clipped to zero); every model still
    # reads a dislike's negative weight at request time (fold-in, item-to-item sums).
    learns_from_negatives: ClassVar[bool] = False
    # True for models whose parameters cap the catalogue size (check_catalogue): training asks
    # the database for that size before reading the interactions.
    size_limited: ClassVar[bool] = False
    # Dense score cells per chunk of users in recommend_batch: less for bigger temporaries.
    batch_cells: ClassVar[int] = CHUNK_CELLS
    # How ``recsys train`` and the evaluation weigh raw 1-5 ratings for this model: 0/1
    # interactions unless the class says why another weighting suits it.
    default_weighting: ClassVar[WeightingKind] = "binary"
    # What ``recsys tune`` searches over; None = not tunable. Seeds and resource limits
    # (random_state, num_threads, max_items) are fixed, not tuned. Ranges span the values the
    # literature and implicit's examples use, widened by a factor of a few on each side.
    search_space: ClassVar[SearchSpace | None] = None
    # Small, fast parameters that give the obvious answers on the toy data
    # (recsys.modeling.toy), for tests: a new model type needs no test-table entry.
    example_params: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __init__(self, params: P | None = None) -> None:
        if params is not None and not isinstance(params, self.params_type):
            raise TypeError(
                f"{self.model_type} takes {self.params_type.__name__}, got {type(params).__name__}"
            )
        self.params: P = params if params is not None else cast(P, self.params_type())
        self._user_ids: IdArray | None = None
        self._item_ids: IdArray | None = None
        self._weighting = FittedWeighting(Weighting())
        self.data_info: dict[str, Any] = {}

    def __repr__(self) -> str:
        state = "unfitted" if self._item_ids is None else f"{self.n_users}x{self.n_items}"
        return f"{type(self).__name__}({self.params!r}, {state})"

    # -- training ---------------------------------------------------------------------------

    def fit(self, matrix: InteractionMatrix) -> Self:
        """Train on a users x items matrix; returns self."""
        if matrix.nnz == 0:
            raise ValueError(f"{self.model_type}: cannot fit an empty interaction matrix")
        if self.needs_sequence and matrix.source is None:
            raise ValueError(
                f"{self.model_type} needs the interactions with their timestamps: build the "
                "matrix with build_matrix(interactions, ...), which keeps them as matrix.source"
            )
        if self.needs_items and matrix.items is None:
            raise ValueError(
                f"{self.model_type} needs movie years and genres: pass "
                "build_matrix(..., items=ItemAttributes...) when building the matrix"
            )
        if not self.learns_from_negatives:
            matrix = without_negatives(matrix)
        self._fit(matrix)
        self._user_ids = matrix.user_ids.copy()
        self._item_ids = matrix.item_ids.copy()
        self._weighting = matrix.weighting
        self.data_info = matrix.data_info()
        return self

    @abstractmethod
    def _fit(self, matrix: InteractionMatrix) -> None: ...

    def check_catalogue(self, n_items: int) -> None:
        """One-line ``ValueError`` when ``n_items`` movies are too many for these parameters
        (``size_limited`` models), before any data is read; the same check ``fit`` makes."""

    # -- scoring ----------------------------------------------------------------------------

    @abstractmethod
    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        """Dense (users x items) float32 scores; -inf where an item cannot be scored."""

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        """Like ``_score``, with each row's history in time order (``needs_sequence`` models)."""
        return self._score(user_index, weighted)

    def _default_time(self) -> int:
        """Reference time of a history without timestamps (sequence models: end of training)."""
        return 0

    @abstractmethod
    def _similar(self, item_index: int) -> FloatArray:
        """Dense float32 similarity of every item to one item; -inf where unrelated."""

    @property
    def is_fitted(self) -> bool:
        """True after ``fit`` or ``from_state``."""
        return self._item_ids is not None

    @property
    def user_ids(self) -> IdArray:
        """Sorted user ids seen at training."""
        return self._require(self._user_ids)

    @property
    def item_ids(self) -> IdArray:
        """Sorted movie ids the model can recommend."""
        return self._require(self._item_ids)

    @property
    def n_users(self) -> int:
        """Users seen at training."""
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        """Movies the model can recommend."""
        return int(self.item_ids.shape[0])

    def knows_user(self, user_id: int) -> bool:
        """True when the user was in the training data (else callers fall back to popularity)."""
        return bool(lookup(self.user_ids, [user_id])[0] >= 0)

    def knows_item(self, movie_id: int) -> bool:
        """True when the movie was in the training data."""
        return bool(lookup(self.item_ids, [movie_id])[0] >= 0)

    def recommend(
        self,
        user_id: int,
        *,
        history: History | None = None,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) for one user, best first, excluding the history's movies.

        ``allowed`` (a bool per item, ``recsys.modeling.eligibility``) restricts the ranking to
        those items before the top-k cut, so the answer has k items whenever k are allowed and
        scorable.
        """
        # The serving path: numpy over arrays prepared at fit/load time (``_recommend_row``),
        # no scipy object per request; models without one take ``recommend_reference``.
        check_k(k)
        check_allowed(allowed, self.n_items)
        history = history if history is not None else History.empty()
        if self.needs_sequence:
            return self.recommend_reference(user_id, history=history, k=k, allowed=allowed)
        seen, raw = history_row(self.item_ids, history)
        cols, weights = self._weighting.apply_row(seen, raw, n_items=self.n_items)
        user_index = lookup_one(self.user_ids, int(user_id))
        row = HistoryRow(seen, raw, cols, weights)
        ranked = self._recommend_row(user_id, user_index, row, k, allowed=allowed)
        if ranked is None:
            return self.recommend_reference(user_id, history=history, k=k, allowed=allowed)
        top, scores = ranked
        return self.item_ids[top], scores

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        """Top-k (item indices, scores) for one request, ``row.seen`` excluded; None if none.

        The fast path of ``recommend``: it must answer as ``recommend_reference`` does (same
        items in the same order, scores within float rounding). ``user_index`` is -1 for a
        user the model was not trained on. None sends the request to ``recommend_reference``.
        Items where ``allowed`` is False must not be returned (ranked out before the cut).
        """
        del user_id, user_index, row, k, allowed
        return None

    def recommend_reference(
        self,
        user_id: int,
        *,
        history: History | None = None,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """``recommend`` through the batch scorer ``_score`` on a one-row scipy matrix.

        The per-request path before models had ``_recommend_row``: the fallback of models that
        have none, and the reference the fast paths are tested and benchmarked against.
        """
        check_k(k)
        check_allowed(allowed, self.n_items)
        history = history if history is not None else History.empty()
        cols, ratings = history_row(self.item_ids, history)
        raw = sp.csr_matrix((ratings, cols, np.array([0, cols.shape[0]])), shape=(1, self.n_items))
        user_index = lookup(self.user_ids, [user_id])
        if self.needs_sequence:
            columns = self._history_columns(np.array([user_id], dtype=np.int64), [history])
            sequences = self._sequences(1, columns)
            scores = self._score_sequences(user_index, self._weighting.apply(raw), sequences)
        else:
            scores = self._score(user_index, self._weighting.apply(raw))
        scores[0, cols] = -np.inf
        if allowed is not None:
            scores[0, ~allowed] = -np.inf
        top, top_scores = top_k(scores, k)
        keep = np.isfinite(top_scores[0])
        return self.item_ids[top[0][keep]], top_scores[0][keep]

    def explain(self, history: History, movie_ids: npt.ArrayLike) -> IdArray:
        """For each movie, the history movie that most led the model to it; -1 where none did.

        Item-to-item models answer (see ``explaining_matrices``); the others return all -1.
        """
        last, recency = self.anchor_window()
        return anchors(
            self.item_ids,
            self.explaining_matrices(),
            history,
            movie_ids,
            last=last,
            recency=recency,
        )

    def explain_reference(self, history: History, movie_ids: npt.ArrayLike) -> IdArray:
        """``explain`` reading the matrices by scipy fancy indexing (the path it replaced)."""
        last, recency = self.anchor_window()
        return anchors(
            self.item_ids,
            self.explaining_matrices(),
            history,
            movie_ids,
            last=last,
            recency=recency,
            block=scipy_block,
        )

    def anchor_window(self) -> tuple[int | None, float]:
        """(latest items that can anchor a reason, their recency decay): all and 1 by default."""
        return None, 1.0

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        """Items x items CSRs: [i, j] is how much having seen i proposes j; most telling first."""
        return ()

    def recommend_batch(
        self,
        user_ids: npt.ArrayLike,
        *,
        histories: Histories,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """(n, k) movie ids and scores, rows padded with ``PAD_ID`` / -inf when items run out.

        ``histories`` is one ``History`` per user, or an ``Interactions`` export from which
        each user's rows are taken. ``allowed`` (one mask for every user) restricts the
        ranking as in ``recommend``.
        """
        check_k(k)
        check_allowed(allowed, self.n_items)
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        user_index = lookup(self.user_ids, users)
        columns = self._history_columns(users, histories)
        raw, seen = self._history_matrices(users.shape[0], columns)
        sequences = self._sequences(users.shape[0], columns) if self.needs_sequence else None
        weighted = self._weighting.apply(raw)
        n_items = self.n_items
        out_ids = np.full((users.shape[0], k), PAD_ID, dtype=np.int64)
        out_scores = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
        chunk = max(1, self.batch_cells // max(n_items, 1))
        for start in range(0, users.shape[0], chunk):
            stop = min(start + chunk, users.shape[0])
            if sequences is not None:
                scores = self._score_sequences(
                    user_index[start:stop], weighted[start:stop], sequences.slice(start, stop)
                )
            else:
                scores = self._score_users(
                    users[start:stop], user_index[start:stop], weighted[start:stop]
                )
            block = seen[start:stop].tocoo()
            scores[block.row, block.col] = -np.inf
            if allowed is not None:
                scores[:, ~allowed] = -np.inf
            top, top_scores = top_k(scores, k)
            valid = np.isfinite(top_scores)
            width = top.shape[1]
            out_ids[start:stop, :width] = np.where(valid, self.item_ids[top], PAD_ID)
            out_scores[start:stop, :width] = top_scores
        return out_ids, out_scores

    def _score_users(
        self, user_ids: IdArray, user_index: IndexArray, weighted: sp.csr_matrix
    ) -> FloatArray:
        """``_score`` of one ``recommend_batch`` chunk; models that score by id override it."""
        return self._score(user_index, weighted)

    def similar_items(
        self, movie_id: int, *, k: int = 10, allowed: BoolArray | None = None
    ) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) most similar to a movie, itself excluded; empty if unknown.

        ``allowed`` restricts the answer to those items before the cut, as in ``recommend``.
        """
        check_k(k)
        check_allowed(allowed, self.n_items)
        index = int(lookup(self.item_ids, [movie_id])[0])
        if index < 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self._similar(index)
        scores[index] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        top, top_scores = top_k(scores[None, :], k)
        keep = np.isfinite(top_scores[0])
        return self.item_ids[top[0][keep]], top_scores[0][keep]

    def _history_columns(self, users: IdArray, histories: Histories) -> HistoryColumns:
        return history_columns(users, histories, default_time=self._default_time())

    def _history_matrices(
        self, n_rows: int, columns: HistoryColumns
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        return history_matrices(self.item_ids, n_rows, columns)

    def _sequences(self, n_rows: int, columns: HistoryColumns) -> Sequences:
        return history_sequences(self.item_ids, n_rows, columns, default_time=self._default_time())

    # -- persistence ------------------------------------------------------------------------

    def to_state(self) -> StateArrays:
        """Everything ``from_state`` needs, as named arrays per .npz file (nothing pickled)."""
        state = self._state_arrays()
        state.update(vocab_state(self.user_ids, self.item_ids, self._weighting))
        return state

    @classmethod
    def from_state(
        cls,
        params: Mapping[str, Any],
        data_info: Mapping[str, Any],
        state: Mapping[str, Mapping[str, npt.NDArray[Any]]],
    ) -> Self:
        """Rebuild a fitted model from ``params``, the manifest's data info and its arrays."""
        model = cls(cast(P, cls.params_type.from_dict(params)))
        model._user_ids, model._item_ids = restore_vocab(state)
        model._weighting = restore_weighting(data_info, state, n_items=model.n_items)
        model.data_info = dict(data_info)
        model._restore(state)
        return model

    @abstractmethod
    def _state_arrays(self) -> StateArrays: ...

    @abstractmethod
    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None: ...

    def _require(self, value: IdArray | None) -> IdArray:
        if value is None:
            raise NotFittedError(f"{self.model_type} model is not fitted: call fit() or load()")
        return value
