"""Train/test splits of ``Interactions``: leave-last-out, global temporal, random per user.

Everything is vectorised numpy and deterministic: the same rows, in any order, with the same
options and seed always give the same split (rows are put in a canonical order before anything
is drawn or cut).

Rules every protocol shares:

- a (user, movie) pair must occur once; a split never puts a pair in both parts;
- test rows whose user or movie does not occur in the train part are dropped (no model can
  score a user without history or rank a movie it never saw); how many were dropped is in
  ``Split.info``, so nothing disappears silently;
- ``Split.validation()`` carves a validation split out of the train part with the same
  protocol and options, for tuning without touching the test part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys.data.frames import Interactions
from recsys.evaluation.choices import LEAVE_LAST_OUT, PROTOCOLS, RANDOM, TEMPORAL
from recsys.modeling.items import ItemAttributes

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

DEFAULT_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Split:
    """A train part, a test part, the protocol's name and options, and what the split did."""

    name: str
    train: Interactions
    test: Interactions
    # The protocol's options (enough to redo the split): e.g. {"test_fraction": 0.2, "seed": 1}.
    params: dict[str, Any]
    # Facts about this split: cut-off time, rows dropped from the test part and why.
    info: dict[str, Any] = field(default_factory=dict)

    def validation(self) -> Split:
        """The same protocol and options applied to this split's train part (for tuning)."""
        inner = make_split(self.train, protocol=self.name, **self.params)
        return Split(
            inner.name, inner.train, inner.test, inner.params, {**inner.info, "of": "train"}
        )

    def stats(self) -> dict[str, Any]:
        """Sizes, users, movies and time ranges of both parts (JSON-ready)."""
        return {
            "protocol": self.name,
            "params": dict(self.params),
            **self.info,
            "train": _part_stats(self.train),
            "test": _part_stats(self.test),
        }


def make_split(interactions: Interactions, *, protocol: str, **options: Any) -> Split:
    """Split with the protocol named ``protocol`` (one of ``PROTOCOLS``) and its options."""
    try:
        splitter = _SPLITTERS[protocol]
    except KeyError:
        raise ValueError(
            f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}"
        ) from None
    return splitter(interactions, **options)


def leave_last_out(interactions: Interactions, *, n: int = 1) -> Split:
    """Each user's last ``n`` interactions by timestamp are test, the rest train.

    Ties: rows are ordered by (timestamp, movie id), so among interactions with the same
    timestamp the one with the higher movie id counts as the later one. Users with ``n`` or
    fewer interactions stay entirely in train (they are not evaluated).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"leave-last-out n must be an integer >= 1, got {n!r}")
    users, movies, _, times = _columns(interactions)
    order = np.lexsort((movies, times, users))
    starts, counts = _groups(users[order])
    ends = np.repeat(starts + counts, counts)
    from_end = ends - np.arange(users.shape[0]) - 1  # 0 for each user's last row
    sorted_test = (from_end < n) & np.repeat(counts > n, counts)
    is_test = np.empty_like(sorted_test)
    is_test[order] = sorted_test
    return _finish(LEAVE_LAST_OUT, interactions, is_test, {"n": n}, {})


def temporal_split(
    interactions: Interactions, *, test_fraction: float = DEFAULT_TEST_FRACTION
) -> Split:
    """One global cut-off time: interactions strictly after it are test, the rest train.

    The cut-off is the timestamp of the ``ceil((1 - test_fraction) * N)``-th interaction in time
    order, so at most ``test_fraction`` of the rows are test (rows tied with the cut-off stay in
    train). Only test rows whose user and movie occur in train are kept.
    """
    _check_fraction(test_fraction)
    _, _, _, times = _columns(interactions)
    n_rows = times.shape[0]
    n_train = min(n_rows, max(1, math.ceil((1.0 - test_fraction) * n_rows)))
    cutoff = int(np.sort(times)[n_train - 1])
    is_test = times > cutoff
    if not is_test.any():
        raise ValueError(
            f"temporal split: no interaction is after the cut-off {_iso(cutoff)} "
            f"(test_fraction={test_fraction:g}); the timestamps are too coarse to split"
        )
    info = {"cutoff": cutoff, "cutoff_utc": _iso(cutoff)}
    return _finish(TEMPORAL, interactions, is_test, {"test_fraction": test_fraction}, info)


def random_split(
    interactions: Interactions, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0
) -> Split:
    """Per user, a seeded random ``test_fraction`` of the interactions is test.

    A user with ``m >= 2`` interactions gives ``round(test_fraction * m)`` of them to test,
    at least 1 and at most ``m - 1`` (rounding half up); users with one interaction stay in
    train. Draws happen in (user, movie) order, so row order does not change the split.
    """
    _check_fraction(test_fraction)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"random split seed must be an integer >= 0, got {seed!r}")
    users, movies, _, _ = _columns(interactions)
    canonical = np.lexsort((movies, users))
    keys = np.empty(users.shape[0], dtype=np.float64)
    keys[canonical] = np.random.default_rng(seed).random(users.shape[0])
    order = np.lexsort((keys, users))
    starts, counts = _groups(users[order])
    wanted = np.floor(test_fraction * counts + 0.5).astype(np.int64)
    n_test = np.where(counts >= 2, np.clip(wanted, 1, counts - 1), 0)
    position = np.arange(users.shape[0]) - np.repeat(starts, counts)
    sorted_test = position < np.repeat(n_test, counts)
    is_test = np.empty_like(sorted_test)
    is_test[order] = sorted_test
    params = {"test_fraction": test_fraction, "seed": seed}
    return _finish(RANDOM, interactions, is_test, params, {})


def interactions_from_ratings(ratings: pd.DataFrame) -> Interactions:
    """A canonical ``ratings`` frame (user_id, movie_id, rating, rated_at) as column arrays."""
    seconds = ratings["rated_at"].to_numpy(dtype="datetime64[s]").astype(np.int64)
    return Interactions(
        user_ids=ratings["user_id"].to_numpy(dtype=np.int64),
        movie_ids=ratings["movie_id"].to_numpy(dtype=np.int64),
        ratings=ratings["rating"].to_numpy(dtype=np.float32),
        timestamps=seconds,
    )


def item_attributes(movies: pd.DataFrame) -> ItemAttributes:
    """The years and genres of a canonical ``movies`` frame (id, title, year, genres)."""
    years = movies["year"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return ItemAttributes.from_records(
        movies["id"].to_numpy(dtype=np.int64).tolist(),
        [None if np.isnan(y) else float(y) for y in years],
        list(movies["genres"]),
    )


def take(interactions: Interactions, rows: npt.NDArray[Any]) -> Interactions:
    """The rows selected by a boolean mask or an index array."""
    return Interactions(
        user_ids=interactions.user_ids[rows],
        movie_ids=interactions.movie_ids[rows],
        ratings=interactions.ratings[rows],
        timestamps=interactions.timestamps[rows],
    )


_SPLITTERS: Mapping[str, Callable[..., Split]] = {
    LEAVE_LAST_OUT: leave_last_out,
    TEMPORAL: temporal_split,
    RANDOM: random_split,
}


def _finish(
    name: str,
    interactions: Interactions,
    is_test: BoolArray,
    params: dict[str, Any],
    info: dict[str, Any],
) -> Split:
    train = take(interactions, ~is_test)
    test = take(interactions, is_test)
    known_user = np.isin(test.user_ids, train.user_ids)
    known_movie = np.isin(test.movie_ids, train.movie_ids)
    kept = take(test, known_user & known_movie)
    info = {
        **info,
        "test_rows_assigned": len(test),
        "test_rows_dropped_unknown_user": int((~known_user).sum()),
        "test_rows_dropped_unknown_movie": int((known_user & ~known_movie).sum()),
    }
    if len(kept) == 0:
        raise ValueError(
            f"{name} split left nothing to test: every test row's user or movie is absent "
            "from the train part"
        )
    return Split(name, train, kept, params, info)


def _columns(interactions: Interactions) -> tuple[IntArray, IntArray, Any, IntArray]:
    users = np.asarray(interactions.user_ids, dtype=np.int64)
    movies = np.asarray(interactions.movie_ids, dtype=np.int64)
    times = np.asarray(interactions.timestamps, dtype=np.int64)
    shapes = {users.shape, movies.shape, times.shape, np.shape(interactions.ratings)}
    if len(shapes) != 1 or users.ndim != 1:
        raise ValueError("interaction columns must be 1-D and equally long")
    if users.shape[0] < 2:
        raise ValueError(f"cannot split {users.shape[0]} interaction(s): need at least 2")
    order = np.lexsort((movies, users))
    u, m = users[order], movies[order]
    dup = np.flatnonzero((u[1:] == u[:-1]) & (m[1:] == m[:-1]))
    if dup.size:
        i = int(dup[0])
        raise ValueError(
            f"{dup.size} duplicate (user, movie) pair(s), e.g. user {u[i]} movie {m[i]}; "
            "a split needs each pair once"
        )
    return users, movies, interactions.ratings, times


def _groups(sorted_users: IntArray) -> tuple[IntArray, IntArray]:
    # Start offset and length of each run of equal user ids in a sorted array.
    n = sorted_users.shape[0]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]).astype(np.int64)
    counts = np.diff(np.r_[starts, n]).astype(np.int64)
    return starts, counts


def _check_fraction(test_fraction: float) -> None:
    ok = isinstance(test_fraction, int | float) and not isinstance(test_fraction, bool)
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _part_stats(part: Interactions) -> dict[str, Any]:
    n = len(part)
    per_user = np.unique(part.user_ids, return_counts=True)[1] if n else np.zeros(0, np.int64)
    return {
        "interactions": n,
        "users": int(per_user.shape[0]),
        "movies": int(np.unique(part.movie_ids).shape[0]),
        "mean_per_user": round(float(per_user.mean()), 3) if n else 0.0,
        "from_utc": _iso(int(part.timestamps.min())) if n else None,
        "to_utc": _iso(int(part.timestamps.max())) if n else None,
    }
