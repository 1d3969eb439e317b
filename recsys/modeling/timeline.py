"""Per-item interaction counts and rating sums before any point in time, vectorised.

Rows are sorted by (item, time) into one int64 key per row; "how many rows of item i happened
strictly before time t" is then one ``searchsorted`` of the key (i, t), for any number of
(item, time) queries at once. Sequence-aware features use it so that an item statistic for a
moment never counts what happened at or after that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import FloatArray, IdArray, IndexArray
from recsys.modeling.errors import ModelStateError
from recsys.modeling.state import Arrays, require_arrays

# Times are stored relative to the earliest row in the low 34 bits (544 years of seconds).
_TIME_BITS = 34
_TIME_SPAN = (1 << _TIME_BITS) - 1


@dataclass(frozen=True)
class ItemTimeline:
    """Rows sorted by (item, time) as keys, with cumulative rating sums; see module doc."""

    keys: IdArray
    # rating_cumsum[r] = sum of the ratings of sorted rows 0..r-1.
    rating_cumsum: npt.NDArray[np.float64]
    # First sorted row of each item (n_items + 1 offsets).
    item_starts: npt.NDArray[np.int64]
    origin: int

    @classmethod
    def build(
        cls, cols: IndexArray, times: IdArray, ratings: FloatArray, *, n_items: int
    ) -> ItemTimeline:
        """From every row's item column, unix time and rating."""
        origin = int(times.min()) if times.shape[0] else 0
        offsets = times.astype(np.int64) - origin
        if offsets.shape[0] and int(offsets.max()) > _TIME_SPAN:
            raise ValueError("interaction timestamps span more than 544 years")
        keys = (cols.astype(np.int64) << _TIME_BITS) | offsets
        order = np.argsort(keys, kind="stable")
        cumsum = np.zeros(keys.shape[0] + 1, dtype=np.float64)
        np.cumsum(ratings[order].astype(np.float64), out=cumsum[1:])
        starts = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=n_items), out=starts[1:])
        return cls(keys[order], cumsum, starts, origin)

    @property
    def n_items(self) -> int:
        """Items covered (columns of the model's vocabulary)."""
        return int(self.item_starts.shape[0] - 1)

    def _positions(self, cols: IndexArray, before: IdArray) -> npt.NDArray[np.int64]:
        offsets = np.clip(before.astype(np.int64) - self.origin, 0, _TIME_SPAN)
        query = (cols.astype(np.int64) << _TIME_BITS) | offsets
        return np.searchsorted(self.keys, query, side="left").astype(np.int64)

    def counts_before(self, cols: IndexArray, before: IdArray) -> npt.NDArray[np.int64]:
        """Rows of item ``cols[q]`` with time strictly before ``before[q]``, per query."""
        return self._positions(cols, before) - self.item_starts[cols]

    def rating_sums_before(self, cols: IndexArray, before: IdArray) -> npt.NDArray[np.float64]:
        """Sum of the ratings counted by ``counts_before``."""
        return (
            self.rating_cumsum[self._positions(cols, before)]
            - self.rating_cumsum[self.item_starts[cols]]
        )

    def first_times(self) -> npt.NDArray[np.float64]:
        """Each item's earliest time (unix seconds), NaN for items without rows."""
        first = np.full(self.n_items, np.nan)
        has = np.diff(self.item_starts) > 0
        keys = self.keys[self.item_starts[:-1][has]]
        first[has] = (keys & _TIME_SPAN) + self.origin
        return first

    def nth_times(self, cols: IndexArray, nth: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Time of item ``cols[q]``'s ``nth[q]``-th earliest row (0 = first); NaN past the end."""
        position = self.item_starts[cols] + nth
        inside = position < self.item_starts[cols + 1]
        out = np.full(cols.shape[0], np.nan)
        out[inside] = (self.keys[position[inside]] & _TIME_SPAN) + self.origin
        return out

    def latest_time(self) -> int:
        """Latest time of any row (the origin when there are none)."""
        if self.keys.shape[0] == 0:
            return self.origin
        return int((self.keys & _TIME_SPAN).max()) + self.origin

    def to_arrays(self) -> Arrays:
        """Arrays for one .npz file."""
        return {
            "keys": self.keys,
            "rating_cumsum": self.rating_cumsum,
            "item_starts": self.item_starts,
            "origin": np.asarray([self.origin], dtype=np.int64),
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Mapping[str, npt.NDArray[Any]]], name: str, *, n_items: int
    ) -> ItemTimeline:
        """Inverse of ``to_arrays`` (stored as ``name``.npz); checks the shapes."""
        arrays = require_arrays(state, name, ("keys", "rating_cumsum", "item_starts", "origin"))
        keys = np.asarray(arrays["keys"], dtype=np.int64)
        cumsum = np.asarray(arrays["rating_cumsum"], dtype=np.float64)
        starts = np.asarray(arrays["item_starts"], dtype=np.int64)
        if (
            starts.shape != (n_items + 1,)
            or cumsum.shape != (keys.shape[0] + 1,)
            or int(starts[-1]) != keys.shape[0]
        ):
            raise ModelStateError(f"{name}.npz: arrays do not fit {n_items} items")
        return cls(keys, cumsum, starts, int(np.asarray(arrays["origin"]).ravel()[0]))
