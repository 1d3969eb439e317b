"""Folded-in user vectors remembered by their history, so a repeat request skips the solve.

A latent model folds every request's history in (ALS: a factors x factors solve, about an
eighth of an ALS answer's CPU on ML-100K), and a user's history rarely changes between two of
their requests. The key is the history itself (its columns and weights as bytes), so a changed
history (a new rating or event) is a new key and can never read an old vector; nothing needs
invalidating. The memo belongs to one fitted model (a new fit or load starts an empty one).

Bounded by the bytes of its keys (``max_bytes``), oldest first out. Safe across threads
without a lock: each operation is one call on an ``OrderedDict`` (C, under the GIL), and a
lost race only means a vector computed twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from recsys.modeling.dataset import FloatArray, IndexArray

V = TypeVar("V")

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Per entry beyond its key: the dict slot, the bytes object header and a small vector.
_OVERHEAD = 400


class FoldMemo:
    """``get(cols, weights, fold)``: ``fold(cols, weights)``, remembered for that exact history."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._vectors: OrderedDict[bytes, FloatArray] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def get(
        self,
        cols: IndexArray,
        weights: FloatArray,
        fold: Callable[[IndexArray, FloatArray], FloatArray],
    ) -> FloatArray:
        # With the dtypes in front, the key's length fixes where the columns end.
        key = f"{cols.dtype.str}{weights.dtype.str}".encode() + cols.tobytes() + weights.tobytes()
        vector = self._vectors.get(key)
        if vector is not None:
            return vector
        vector = fold(cols, weights)
        vector.flags.writeable = False  # shared by every later request of this history
        size = len(key) + _OVERHEAD
        if size > self.max_bytes:
            return vector
        self._vectors[key] = vector
        self._bytes += size
        while self._bytes > self.max_bytes:
            try:
                old, _ = self._vectors.popitem(last=False)
            except KeyError:  # another thread emptied it first
                break
            self._bytes -= len(old) + _OVERHEAD
        return vector


class HistoryMemo(Generic[V]):
    """``get(key, compute, size)``: ``compute()``, remembered under ``key`` (bytes that fix the
    answer: the history and whatever else it depends on), bounded by keys' and values' bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._values: OrderedDict[bytes, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: bytes, compute: Callable[[], V], size: Callable[[V], int]) -> V:
        found = self._values.get(key)
        if found is not None:
            return found[0]
        value = compute()
        cost = len(key) + size(value) + _OVERHEAD
        if cost > self.max_bytes:
            return value
        self._values[key] = (value, cost)
        self._bytes += cost
        while self._bytes > self.max_bytes:
            try:
                _, (_, old) = self._values.popitem(last=False)
            except KeyError:  # another thread emptied it first
                break
            self._bytes -= old
        return value
