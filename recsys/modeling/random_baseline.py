"""Uniform random baseline: a fixed pseudo-random score per (seed, user id, movie id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import PAD_ID, History, HistoryRow, Recommender, StateArrays
from recsys.modeling.dataset import BoolArray, FloatArray, IdArray, IndexArray, InteractionMatrix
from recsys.modeling.params import ModelParams, check_int
from recsys.modeling.topk import top_k_row
from recsys.modeling.weighting import WeightingKind

U64 = npt.NDArray[np.uint64]

# Domain separators, so a user's scores and an item's "similar" scores never share a stream.
_USER_STREAM = np.uint64(0x5EED_0000_0000_0001)
_ITEM_STREAM = np.uint64(0x5EED_0000_0000_0002)


@dataclass(frozen=True, kw_only=True)
class RandomParams(ModelParams):
    """The seed is the only parameter."""

    model_type: ClassVar[str] = "random"

    random_state: int = 42

    def __post_init__(self) -> None:
        check_int("random", "random_state", self.random_state, low=0, high=2**32 - 1)


class RandomRecommender(Recommender[RandomParams]):
    """Scores are uniform in [0, 1), a pure function of (seed, user id, movie id).

    A counter-based hash instead of a stateful RNG: the score of a cell never depends on which
    other users share the batch, on the order they come in, or on a save/load in between.
    """

    # Random ignores the matrix.
    default_weighting: ClassVar[WeightingKind] = "binary"
    example_params: ClassVar[Mapping[str, Any]] = {"random_state": 7}

    model_type: ClassVar[str] = "random"
    params_type: ClassVar[type[ModelParams]] = RandomParams
    # Not personalised: it ignores taste, must answer any user (trained on or not, with or
    # without history) rather than fall back to popularity, and the service refuses
    # "similar movies" for it (random neighbours are no answer).
    personalised: ClassVar[bool] = False
    # A quarter of the base class's chunk: the hash works on uint64 (2x float32), and keeps a
    # few such temporaries alive at once.
    batch_cells: ClassVar[int] = Recommender.batch_cells // 4

    def __init__(self, params: RandomParams | None = None) -> None:
        super().__init__(params)
        # item_stream_keys(item_ids), made on the first request.
        self._item_keys: U64 | None = None

    def _fit(self, matrix: InteractionMatrix) -> None:
        self._item_keys = None
        # Nothing to learn: the vocabularies the base class keeps are all it needs.
        pass

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # Known users only: recommend_batch scores through _score_users, by id.
        if np.any(user_index < 0):
            raise ValueError("random scores unknown users by id: call recommend_batch")
        return self._score_users(self.user_ids[user_index], user_index, weighted)

    def _score_users(
        self, user_ids: IdArray, user_index: IndexArray, weighted: sp.csr_matrix
    ) -> FloatArray:
        # By id, not matrix row: every unknown user is row -1, and their scores must differ too.
        return uniform_scores(user_keys(self.params.random_state, user_ids), self.item_ids)

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        # By id, as _score_users: the same hash for one row, the item half computed once.
        if self._item_keys is None or self._item_keys.shape != self.item_ids.shape:
            self._item_keys = item_stream_keys(self.item_ids)
        key = user_keys(self.params.random_state, np.array([user_id], dtype=np.int64))
        scores = uniform_scores(key, self.item_ids, item_keys=self._item_keys)[0]
        scores[row.seen] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        return top_k_row(scores, k)

    def recommend_reference(
        self,
        user_id: int,
        *,
        history: History | None = None,
        k: int = 10,
        allowed: BoolArray | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """Top-k for one user: the batch path (scored by user id, not matrix row)."""
        ids, scores = self.recommend_batch(
            [user_id],
            histories=[history if history is not None else History.empty()],
            k=k,
            allowed=allowed,
        )
        keep = ids[0] != PAD_ID
        return ids[0][keep], scores[0][keep]

    def _similar(self, item_index: int) -> FloatArray:
        # Random "neighbours" (the service never asks: it refuses similar movies for random).
        key = _mix(_mix(_seed(self.params.random_state) ^ _ITEM_STREAM) ^ _u64(self.item_ids))
        row: FloatArray = uniform_scores(key[item_index : item_index + 1], self.item_ids)[0]
        return row

    def _state_arrays(self) -> StateArrays:
        return {}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        pass


def uniform_scores(row_keys: U64, item_ids: IdArray, *, item_keys: U64 | None = None) -> FloatArray:
    """(rows, items) float32 in [0, 1): one independent uniform per (row key, item id).

    ``item_keys`` (``item_stream_keys(item_ids)``) may be passed in, computed once per model.
    """
    if item_keys is None:
        item_keys = item_stream_keys(item_ids)
    bits = _mix(row_keys[:, None] ^ item_keys[None, :])
    # The top 24 bits: exactly representable in float32.
    scores: FloatArray = (bits >> np.uint64(40)).astype(np.float32)
    scores *= np.float32(2.0**-24)
    return scores


def item_stream_keys(item_ids: IdArray) -> U64:
    """The per-item half of ``uniform_scores``' hash: the same for every user."""
    return _mix(_u64(item_ids) ^ np.uint64(0xA5A5_A5A5_A5A5_A5A5))


def user_keys(random_state: int, user_ids: IdArray) -> U64:
    """The per-user stream keys ``uniform_scores`` takes."""
    return _mix(_mix(_seed(random_state) ^ _USER_STREAM) ^ _u64(user_ids))


def _seed(random_state: int) -> U64:
    return np.asarray([random_state], dtype=np.uint64)


def _u64(ids: npt.ArrayLike) -> U64:
    # Ids are int64; reinterpret (not convert) so negative ids hash too.
    return np.ascontiguousarray(ids, dtype=np.int64).view(np.uint64)


def _mix(x: U64) -> U64:
    # SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection with full avalanche.
    # uint64 array arithmetic wraps modulo 2**64, which is what the hash wants.
    z = x + np.uint64(0x9E37_79B9_7F4A_7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
    return z ^ (z >> np.uint64(31))
