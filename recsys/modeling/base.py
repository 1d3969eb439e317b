"""The one recommender interface every model implements (modelled on implicit's RecommenderBase).

Ids in and out are movie/user ids, never matrix indices. The caller passes each user's
history (from the database at request time) so that anything the user has rated is
excluded, including ratings added after training.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling import npz
from recsys.modeling.dataset import (
    FittedWeighting,
    FloatArray,
    IdArray,
    IndexArray,
    InteractionMatrix,
    Weighting,
    lookup,
)
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.explain import anchors
from recsys.modeling.params import ModelParams
from recsys.modeling.search import SearchSpace
from recsys.modeling.sequences import Sequences, build_sequences
from recsys.modeling.weighting import WeightingKind

P = TypeVar("P", bound=ModelParams)

Arrays = dict[str, npt.NDArray[Any]]
# File stem -> arrays in that .npz file.
StateArrays = dict[str, Arrays]

# Batch results are padded with this id (and a -inf score) where fewer than k items qualify.
PAD_ID = -1
# Dense score blocks are at most this many floats (64 MiB of float32) per chunk of users.
_CHUNK_CELLS = 1 << 24


@dataclass(frozen=True)
class History:
    """One user's rated movies and raw ratings; the model applies its training weighting.

    ``timestamps`` (unix seconds per movie: the latest rating or event time) matter only to
    sequence-aware models; without them such models take the given order as time order.
    """

    movie_ids: IdArray
    ratings: FloatArray
    timestamps: IdArray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.movie_ids, dtype=np.int64).ravel()
        ratings = np.asarray(self.ratings, dtype=np.float32).ravel()
        if ids.shape != ratings.shape:
            raise ValueError(f"history has {ids.shape[0]} movie ids but {ratings.shape[0]} ratings")
        if not np.all(np.isfinite(ratings)):
            raise ValueError("history ratings must be finite numbers")
        object.__setattr__(self, "movie_ids", ids)
        object.__setattr__(self, "ratings", ratings)
        if self.timestamps is not None:
            times = np.asarray(self.timestamps, dtype=np.int64).ravel()
            if times.shape != ids.shape:
                raise ValueError(
                    f"history has {ids.shape[0]} movie ids but {times.shape[0]} timestamps"
                )
            object.__setattr__(self, "timestamps", times)

    @classmethod
    def of(
        cls,
        movie_ids: npt.ArrayLike,
        ratings: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
    ) -> History:
        """History from movie ids, ratings (default 1.0) and optional unix-second timestamps."""
        ids = np.asarray(movie_ids, dtype=np.int64).ravel()
        values = np.ones(ids.shape, np.float32) if ratings is None else np.asarray(ratings)
        times = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        return cls(ids, cast(FloatArray, values), times)

    @classmethod
    def empty(cls) -> History:
        """A user who has rated nothing."""
        return cls.of(np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.movie_ids.shape[0])


Histories = Sequence[History] | Interactions


class Recommender(ABC, Generic[P]):
    """fit / recommend / recommend_batch / similar_items / save / load, on movie and user ids."""

    model_type: ClassVar[str]
    params_type: ClassVar[type[ModelParams]]
    # False for baselines whose ranking ignores the user (popularity).
    personalised: ClassVar[bool] = True
    # True for models that read the order and timing of histories: they must be fit on a
    # matrix with ``source`` rows and score through ``_score_sequences``.
    needs_sequence: ClassVar[bool] = False
    # True for models that read movie years and genres: fit needs ``matrix.items``.
    needs_items: ClassVar[bool] = False
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
        self._fit(matrix)
        self._user_ids = matrix.user_ids.copy()
        self._item_ids = matrix.item_ids.copy()
        self._weighting = matrix.weighting
        self.data_info = matrix.data_info()
        return self

    @abstractmethod
    def _fit(self, matrix: InteractionMatrix) -> None: ...

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
        """True after ``fit`` or ``load``."""
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
        self, user_id: int, *, history: History | None = None, k: int = 10
    ) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) for one user, best first, excluding the history's movies."""
        # The serving path: the same steps as recommend_batch for one row, built directly. The
        # batch path's COO conversions and chunk slicing cost ~0.3 ms a request, ~10x the maths.
        _check_k(k)
        history = history if history is not None else History.empty()
        cols = lookup(self.item_ids, history.movie_ids)
        known = cols >= 0  # unknown movie ids cannot be scored or recommended: ignore them
        cols, ratings = cols[known], history.ratings[known]
        if cols.shape[0] > 1:
            order = np.argsort(cols, kind="stable")
            cols, ratings = cols[order], ratings[order]
            first = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
            # Repeated movies add up, as the batch path's sparse constructor does.
            cols, ratings = cols[first], np.add.reduceat(ratings, first).astype(np.float32)
        raw = sp.csr_matrix((ratings, cols, np.array([0, cols.shape[0]])), shape=(1, self.n_items))
        user_index = lookup(self.user_ids, [user_id])
        if self.needs_sequence:
            columns = self._history_columns(np.array([user_id], dtype=np.int64), [history])
            sequences = self._sequences(1, columns)
            scores = self._score_sequences(user_index, self._weighting.apply(raw), sequences)
        else:
            scores = self._score(user_index, self._weighting.apply(raw))
        scores[0, cols] = -np.inf
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

    def anchor_window(self) -> tuple[int | None, float]:
        """(latest items that can anchor a reason, their recency decay): all and 1 by default."""
        return None, 1.0

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        """Items x items CSRs: [i, j] is how much having seen i proposes j; most telling first."""
        return ()

    def recommend_batch(
        self, user_ids: npt.ArrayLike, *, histories: Histories, k: int = 10
    ) -> tuple[IdArray, FloatArray]:
        """(n, k) movie ids and scores, rows padded with ``PAD_ID`` / -inf when items run out.

        ``histories`` is one ``History`` per user, or an ``Interactions`` export from which
        each user's rows are taken.
        """
        _check_k(k)
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        user_index = lookup(self.user_ids, users)
        columns = self._history_columns(users, histories)
        raw, seen = self._history_matrices(users.shape[0], columns)
        sequences = self._sequences(users.shape[0], columns) if self.needs_sequence else None
        weighted = self._weighting.apply(raw)
        n_items = self.n_items
        out_ids = np.full((users.shape[0], k), PAD_ID, dtype=np.int64)
        out_scores = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
        chunk = max(1, _CHUNK_CELLS // max(n_items, 1))
        for start in range(0, users.shape[0], chunk):
            stop = min(start + chunk, users.shape[0])
            if sequences is not None:
                scores = self._score_sequences(
                    user_index[start:stop], weighted[start:stop], sequences.slice(start, stop)
                )
            else:
                scores = self._score(user_index[start:stop], weighted[start:stop])
            block = seen[start:stop].tocoo()
            scores[block.row, block.col] = -np.inf
            top, top_scores = top_k(scores, k)
            valid = np.isfinite(top_scores)
            width = top.shape[1]
            out_ids[start:stop, :width] = np.where(valid, self.item_ids[top], PAD_ID)
            out_scores[start:stop, :width] = top_scores
        return out_ids, out_scores

    def similar_items(self, movie_id: int, *, k: int = 10) -> tuple[IdArray, FloatArray]:
        """Top-k (movie_ids, scores) most similar to a movie, itself excluded; empty if unknown."""
        _check_k(k)
        index = int(lookup(self.item_ids, [movie_id])[0])
        if index < 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self._similar(index)
        scores[index] = -np.inf
        top, top_scores = top_k(scores[None, :], k)
        keep = np.isfinite(top_scores[0])
        return self.item_ids[top[0][keep]], top_scores[0][keep]

    def _history_columns(self, users: IdArray, histories: Histories) -> _HistoryColumns:
        # Every history entry as columns: row, movie, rating, time and a tie-break order.
        if isinstance(histories, Interactions):
            rows, picked = _rows_from_interactions(users, histories)
            movies = np.asarray(histories.movie_ids, dtype=np.int64)[picked]
            return _HistoryColumns(
                rows=rows,
                movies=movies,
                ratings=np.asarray(histories.ratings, dtype=np.float32)[picked],
                times=np.asarray(histories.timestamps, dtype=np.int64)[picked],
                tiebreak=movies,
            )
        if len(histories) != users.shape[0]:
            raise ValueError(
                f"got {users.shape[0]} user ids but {len(histories)} histories; "
                "pass one history per user"
            )
        lengths = np.fromiter((len(h) for h in histories), np.int64, len(histories))
        default = self._default_time()
        # Untimed histories keep their given order (ties at the default time, broken by position).
        times = [
            h.timestamps if h.timestamps is not None else np.full(len(h), default, np.int64)
            for h in histories
        ]
        tiebreak = [
            h.movie_ids if h.timestamps is not None else np.arange(len(h), dtype=np.int64)
            for h in histories
        ]
        empty_ids = np.zeros(0, np.int64)
        return _HistoryColumns(
            rows=np.repeat(np.arange(users.shape[0]), lengths).astype(np.intp),
            movies=np.concatenate([h.movie_ids for h in histories] or [empty_ids]),
            ratings=np.concatenate([h.ratings for h in histories] or [np.zeros(0, np.float32)]),
            times=np.concatenate(times or [empty_ids]),
            tiebreak=np.concatenate(tiebreak or [empty_ids]),
        )

    def _history_matrices(
        self, n_rows: int, columns: _HistoryColumns
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        # Raw ratings of known movies (to weigh) and a 0/1 "seen" mask over the same cells.
        rows, movies, ratings = columns.rows, columns.movies, columns.ratings
        cols = lookup(self.item_ids, movies)
        known = cols >= 0  # unknown movie ids cannot be scored or recommended: ignore them
        shape = (n_rows, self.n_items)
        raw = sp.csr_matrix(
            (ratings[known].astype(np.float32), (rows[known], cols[known])), shape=shape
        )
        seen = sp.csr_matrix(
            (np.ones(int(known.sum()), np.float32), (rows[known], cols[known])), shape=shape
        )
        return raw, seen

    def _sequences(self, n_rows: int, columns: _HistoryColumns) -> Sequences:
        return build_sequences(
            self.item_ids,
            n_rows=n_rows,
            rows=columns.rows,
            movie_ids=columns.movies,
            ratings=columns.ratings,
            times=columns.times,
            tiebreak=columns.tiebreak,
            default_time=self._default_time(),
        )

    # -- persistence ------------------------------------------------------------------------

    def to_state(self) -> StateArrays:
        """Everything ``from_state`` needs, as named arrays per .npz file (nothing pickled)."""
        state = self._state_arrays()
        state["vocab"] = {"user_ids": self.user_ids, "item_ids": self.item_ids}
        state["weighting"] = {"item_length_norm": self._weighting.item_length_norm}
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
        vocab = _arrays(state, "vocab", ("user_ids", "item_ids"))
        model._user_ids = _ids(vocab, "user_ids")
        model._item_ids = _ids(vocab, "item_ids")
        if not isinstance(data_info.get("weighting"), Mapping):
            raise ModelStateError("data info lacks the 'weighting' the model was trained with")
        try:
            spec = Weighting.from_dict(dict(data_info["weighting"]))
        except (TypeError, ValueError) as exc:
            raise ModelStateError(f"bad weighting in data info: {exc}") from exc
        norm = _arrays(state, "weighting", ("item_length_norm",))["item_length_norm"]
        model._weighting = FittedWeighting(spec, np.asarray(norm, dtype=np.float32))
        if spec.kind == "bm25" and norm.shape != (model.n_items,):
            raise ModelStateError(
                f"weighting.npz: item_length_norm has shape {norm.shape}, "
                f"expected ({model.n_items},)"
            )
        model.data_info = dict(data_info)
        model._restore(state)
        return model

    @abstractmethod
    def _state_arrays(self) -> StateArrays: ...

    @abstractmethod
    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None: ...

    def save(self, folder: Path) -> None:
        """Write ``model.json`` and one ``.npz`` per state file into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, arrays in self.to_state().items():
            (folder / f"{name}.npz").write_bytes(npz.dumps(arrays))
        meta = {
            "model_type": self.model_type,
            "params": self.params.to_dict(),
            "data": self.data_info,
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a folder written by ``save`` (``allow_pickle=False``)."""
        meta = json.loads((folder / "model.json").read_text())
        if meta.get("model_type") != cls.model_type:
            raise ModelStateError(
                f"{folder}/model.json holds a {meta.get('model_type')!r} model, "
                f"not {cls.model_type!r}"
            )
        state: StateArrays = {}
        for path in sorted(folder.glob("*.npz")):
            try:
                state[path.stem] = npz.loads(path.read_bytes())
            except ValueError as exc:
                raise ModelStateError(f"{path}: {exc}") from exc
        return cls.from_state(meta["params"], meta.get("data", {}), state)

    def _require(self, value: IdArray | None) -> IdArray:
        if value is None:
            raise NotFittedError(f"{self.model_type} model is not fitted: call fit() or load()")
        return value


def top_k(scores: FloatArray, k: int) -> tuple[IndexArray, FloatArray]:
    """Row-wise top-k (indices, scores), best first, ties broken by lower index."""
    n_cols = scores.shape[1]
    kk = min(k, n_cols)
    if kk == 0:
        return np.zeros((scores.shape[0], 0), np.intp), np.zeros((scores.shape[0], 0), np.float32)
    if kk < n_cols:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_cols), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=-1)
    return (
        np.take_along_axis(part, order, axis=1).astype(np.intp, copy=False),
        np.take_along_axis(values, order, axis=1).astype(np.float32, copy=False),
    )


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100_000:
        raise ValueError(f"k must be an integer in [1, 100000], got {k!r}")


@dataclass(frozen=True)
class _HistoryColumns:
    rows: IndexArray
    movies: IdArray
    ratings: FloatArray
    times: IdArray
    tiebreak: IdArray


def _rows_from_interactions(
    users: IdArray, interactions: Interactions
) -> tuple[IndexArray, npt.NDArray[np.bool_]]:
    # Output row of each wanted interaction, and which interactions are wanted.
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    if sorted_users.shape[0] > 1 and np.any(sorted_users[1:] == sorted_users[:-1]):
        raise ValueError("user ids must be unique when histories come from Interactions")
    pos = lookup(sorted_users, interactions.user_ids)
    wanted = pos >= 0
    rows = order[pos[wanted]].astype(np.intp)
    return rows, wanted


def _arrays(
    state: Mapping[str, Mapping[str, npt.NDArray[Any]]], name: str, keys: Sequence[str]
) -> Mapping[str, npt.NDArray[Any]]:
    arrays = state.get(name)
    if arrays is None:
        raise ModelStateError(f"{name}.npz is missing")
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise ModelStateError(f"{name}.npz lacks array(s) {', '.join(missing)}")
    return arrays


def _ids(arrays: Mapping[str, npt.NDArray[Any]], key: str) -> IdArray:
    ids = np.asarray(arrays[key])
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ModelStateError(f"vocab.npz: {key} must be a 1-D integer array, got {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.shape[0] > 1 and np.any(ids[1:] <= ids[:-1]):
        raise ModelStateError(f"vocab.npz: {key} must be sorted and unique")
    return ids
