"""What the latent-factor models (als, bpr, svd) share (implicit's MatrixFactorizationBase).

User and item factors; scores are their dot products, for stored users and for histories folded
in (each model's own solve); similar items by cosine over item factors; the factors persisted in
``factors.npz`` as ``user_factors``, ``item_factors`` and the model's extra arrays.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.ann import InnerProductIndex, SearchMode
from recsys.modeling.base import Histories, HistoryRow, Recommender, StateArrays
from recsys.modeling.dataset import BoolArray, FloatArray, IndexArray, lookup, sorted_contains
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.fold_memo import FoldMemo
from recsys.modeling.params import ModelParams, check_int
from recsys.modeling.state import require_arrays
from recsys.modeling.topk import top_k_candidates, top_k_row

# Default catalogue size from which the latent models search the approximate index.
ANN_MIN_ITEMS = 20_000


class LatentParams(ModelParams):
    """Params of a latent-factor model: each subclass's dataclass defines these."""

    factors: int
    ann_min_items: int


def check_ann_min_items(owner: str, value: object) -> None:
    """``ValueError`` unless ``value`` is a valid ``ann_min_items``."""
    check_int(owner, "ann_min_items", value, low=1, high=2**62)


LP = TypeVar("LP", bound=LatentParams)


class LatentFactorRecommender(Recommender[LP]):
    """Scores are user factor . item factor; subclasses fit the factors and fold histories in."""

    # Columns of both factor matrices beyond params.factors (BPR: the item bias).
    extra_columns: ClassVar[int] = 0
    # False when only users the model never saw are folded in (BPR: its solve is too slow).
    folds_known_users: ClassVar[bool] = True

    def __init__(self, params: LP | None = None) -> None:
        super().__init__(params)
        self._user_factors: FloatArray | None = None
        self._item_factors: FloatArray | None = None
        # The rest of factors.npz (e.g. svd's singular_values), by array name.
        self._extras: dict[str, FloatArray] = {}
        # How recommend() finds the top-k: "auto" = the approximate index from
        # params.ann_min_items items on, else exact; "exact" / "ann" force one.
        self.search: SearchMode = "auto"
        # The approximate index: stored as ann.npz by to_state and read back at load (built
        # at load if missing), or built on first use after fit.
        self._ann: InnerProductIndex | None = None
        self._ann_lock = threading.Lock()
        # Per-request fold-ins by history (recsys.modeling.fold_memo); emptied with new factors.
        self._fold_memo = FoldMemo()

    @property
    def user_factors(self) -> FloatArray:
        """(users, factors + extra columns) float32, rows in ``user_ids`` order."""
        return self._fitted(self._user_factors)

    @property
    def item_factors(self) -> FloatArray:
        """(items, factors + extra columns) float32, rows in ``item_ids`` order."""
        return self._fitted(self._item_factors)

    def user_vectors(self, user_ids: npt.ArrayLike, *, histories: Histories) -> FloatArray:
        """(users, factors + extra columns) vectors the model scores with, from each history.

        A user with no history the model can use, or one it does not fold in (``folds_known_users``
        False), keeps the trained vector (zeros if unknown).
        """
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        raw, _ = self._history_matrices(users.shape[0], self._history_columns(users, histories))
        vectors, _ = self._user_vectors(lookup(self.user_ids, users), self._weighting.apply(raw))
        return vectors

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        vectors, scorable = self._user_vectors(user_index, weighted)
        scores: FloatArray = vectors @ self.item_factors.T
        scores[~scorable] = -np.inf
        return scores

    def _user_vectors(
        self, user_index: IndexArray, weighted: sp.csr_matrix
    ) -> tuple[FloatArray, BoolArray]:
        width = self.params.factors + self.extra_columns
        vectors = np.zeros((user_index.shape[0], width), dtype=np.float32)
        known = user_index >= 0
        vectors[known] = self.user_factors[user_index[known]]
        fold = self._fold_rows(known, weighted)
        if fold.size:
            self._fold_in(vectors, fold, weighted)
        scorable = known.copy()
        scorable[fold] = True
        return vectors, scorable

    def _fold_rows(self, known: BoolArray, weighted: sp.csr_matrix) -> IndexArray:
        # The rows with a history to fold in (known users' only if folds_known_users).
        with_history = np.diff(weighted.indptr) > 0
        if not self.folds_known_users:
            with_history &= ~known
        return np.flatnonzero(with_history)

    @abstractmethod
    def _fold_in(self, vectors: FloatArray, rows: IndexArray, weighted: sp.csr_matrix) -> None:
        """Overwrite ``vectors[rows]`` with vectors solved from those rows of ``weighted``."""

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        vector = self._row_vector(user_index, row)
        if vector is None:  # an unknown user with no usable history: nothing to score
            return np.zeros(0, np.intp), np.zeros(0, np.float32)
        wanted = k + row.seen.shape[0]
        # Auto mode leaves long histories to exact search: the graph walk grows with the answer.
        # A filtered request is exact too: the approximate k + |history| best may hold fewer
        # than k allowed items, and an answer must be filled before the cut, not trimmed.
        if (
            allowed is None
            and self.uses_ann
            and (self.search == "ann" or wanted <= self.n_items // 4)
        ):
            # The k + |history| approximate best, the history dropped, scored exactly.
            found = self.ann_index().search(vector, wanted)
            found = found[~sorted_contains(row.seen, found)]
            return top_k_candidates(found, self.item_factors[found] @ vector, k)
        # The batch path's (1, f) @ (f, items) product, so the scores are bit-identical.
        scores: FloatArray = (vector[None, :] @ self.item_factors.T)[0]
        scores[row.seen] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        return top_k_row(scores, k)

    @property
    def uses_ann(self) -> bool:
        """True when recommend() searches the approximate index (see ``search``)."""
        if self.search == "auto":
            return self.n_items >= self.params.ann_min_items
        return self.search == "ann"

    def ann_index(self) -> InnerProductIndex:
        """The approximate inner-product index over the item factors (built once, on demand)."""
        if self._ann is None:
            with self._ann_lock:
                if self._ann is None:
                    self._ann = InnerProductIndex.build(self.item_factors)
        return self._ann

    def _row_vector(self, user_index: int, row: HistoryRow) -> FloatArray | None:
        # _user_vectors for one request: folded in from the history, else the trained vector.
        known = user_index >= 0
        if row.cols.shape[0] and (self.folds_known_users or not known):
            return self._fold_memo.get(row.cols, row.weights, self._fold_in_row)
        return self.user_factors[user_index] if known else None

    @abstractmethod
    def _fold_in_row(self, cols: IndexArray, weights: FloatArray) -> FloatArray:
        """One history's vector (``_fold_in`` of one row), from numpy arrays only."""

    def _similar(self, item_index: int) -> FloatArray:
        return cosine_to(self._similarity_factors(), item_index)

    def _similarity_factors(self) -> FloatArray:
        # Cosine over the item factors (bias column included), as implicit's similar_items.
        return self.item_factors

    def _extra_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> expected shape of each array ``factors.npz`` holds beside the two factors."""
        return {}

    def _extra(self, name: str) -> FloatArray:
        return self._fitted(self._extras.get(name))

    def _set_factors(self, users: npt.ArrayLike, items: npt.ArrayLike, **extras: Any) -> None:
        self._user_factors = np.ascontiguousarray(users, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(items, dtype=np.float32)
        self._extras = {
            name: np.ascontiguousarray(value, dtype=np.float32) for name, value in extras.items()
        }
        self._ann = None  # new factors: a stale index must not answer
        self._fold_memo = FoldMemo()  # nor a vector folded against the old ones

    def _state_arrays(self) -> StateArrays:
        arrays = {"user_factors": self.user_factors, "item_factors": self.item_factors}
        arrays.update({name: self._extra(name) for name in self._extra_shapes()})
        state: StateArrays = {"factors": arrays}
        if self.n_items >= self.params.ann_min_items:
            # Built once here (tens of seconds at 62k items) rather than in every server.
            state["ann"] = {"index": self.ann_index().to_array()}
        return state

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        extra = self._extra_shapes()
        f = self.params.factors
        width = f + self.extra_columns
        expected: dict[str, tuple[int, ...]] = {
            "user_factors": (self.n_users, width),
            "item_factors": (self.n_items, width),
            **extra,
        }
        arrays = require_arrays(state, "factors", tuple(expected))
        got = {name: np.ascontiguousarray(arrays[name], dtype=np.float32) for name in expected}
        if any(got[name].shape != shape for name, shape in expected.items()):
            shapes = " / ".join(f"{name} {got[name].shape}" for name in expected)
            bias = " (+1 bias column)" if self.extra_columns else ""
            raise ModelStateError(
                f"factors.npz: {shapes} do not match {self.n_users} users, "
                f"{self.n_items} items and {f} factors{bias}"
            )
        self._set_factors(
            got["user_factors"], got["item_factors"], **{name: got[name] for name in extra}
        )
        if "ann" in state:
            blob = require_arrays(state, "ann", ("index",))["index"]
            try:
                self._ann = InnerProductIndex.from_array(blob, n_items=self.n_items, width=width)
            except (ValueError, RuntimeError) as exc:  # faiss raises RuntimeError on bad bytes
                raise ModelStateError(
                    f"ann.npz: not a valid index for these factors: {exc}"
                ) from exc
        elif self.n_items >= self.params.ann_min_items:
            # An artifact saved without its index: build it now rather than in a request.
            self.ann_index()

    def _fitted(self, value: FloatArray | None) -> FloatArray:
        if value is None:
            raise NotFittedError(f"{self.model_type} model is not fitted: call fit() or load()")
        return value


def cosine_to(factors: FloatArray, item_index: int) -> FloatArray:
    """Cosine of every row of ``factors`` with row ``item_index`` (implicit's similar_items)."""
    norms = np.linalg.norm(factors, axis=1)
    norms[norms == 0] = 1e-10
    scores = (factors @ factors[item_index]) / (norms * norms[item_index])
    return np.asarray(scores, dtype=np.float32)
