"""Deterministic synthetic ratings with known structure, for tests and scale benchmarks.

Each user belongs to one latent taste group; each group owns a share of the catalogue and a pair of
genres. A user's interactions come from their group's items with probability ``affinity`` (rated
high) and from the whole catalogue otherwise (rated lower), items being drawn by a Zipf-like
popularity. So the right recommendations are known: users of group ``g`` should get the popular
items of ``group_items[g]``. Everything is vectorised numpy drawn from one seeded generator, in
fixed-size chunks, so the same arguments always give the same frames, at any size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsys.data.frames import Dataset
from recsys.data.movielens import ML1M_OCCUPATIONS, ML100K_GENRES
from recsys.data.normalize import movies_frame, users_frame

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

GENRES = tuple(g for g in ML100K_GENRES if g != "unknown")
AGES = np.array([1, 18, 25, 35, 45, 50, 56], dtype=np.int64)  # ML-1M's age buckets
_CHUNK = 1 << 22  # draws per chunk: bounds the float64 temporaries at ~32 MiB each
_MAX_ROUNDS = 200
_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, repr=False, eq=False)
class SyntheticDataset(Dataset):
    """A generated Dataset plus its ground truth (user ids are 1..U, movie ids 1..I)."""

    # Group of user id ``u`` is ``user_group[u - 1]``; of movie id ``m``, ``item_group[m - 1]``.
    user_group: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    item_group: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # Movie ids of each group, most popular first.
    group_items: tuple[IntArray, ...] = ()
    group_genres: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class _Catalogue:
    """Item popularity and the cumulative tables used to draw items by it."""

    item_group: IntArray
    by_group: IntArray  # item indices sorted by (group, popularity descending)
    group_cum: FloatArray  # within-group cumulative popularity, offset by the group index
    group_end: IntArray  # one past the last position of each group in by_group
    global_cum: FloatArray  # cumulative popularity over item indices, in [0, 1]


def _show(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _check(name: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        allowed = f"{_show(low)}..{_show(high)}" if high is not None else f">= {_show(low)}"
        raise ValueError(f"{name}={_show(value)} is out of range: allowed {allowed}")


def _cumulative(weights: FloatArray) -> FloatArray:
    cum = np.cumsum(weights)
    return np.asarray(cum / cum[-1], dtype=np.float64)


def _catalogue(rng: np.random.Generator, items: int, groups: int, exponent: float) -> _Catalogue:
    # Zipf-like popularity by a random rank, so popular items are spread over groups.
    rank = rng.permutation(items).astype(np.float64)
    weight = (rank + 1.0) ** -exponent
    item_group = rng.permutation(np.arange(items, dtype=np.int64) % groups)
    by_group = np.lexsort((-weight, item_group)).astype(np.int64)
    sorted_group = item_group[by_group]
    sorted_weight = weight[by_group]
    group_end = np.searchsorted(sorted_group, np.arange(groups), side="right").astype(np.int64)
    totals = np.bincount(sorted_group, weights=sorted_weight, minlength=groups)
    cum = np.cumsum(sorted_weight)
    before = np.concatenate(([0.0], np.cumsum(totals)[:-1]))
    group_cum = (cum - before[sorted_group]) / totals[sorted_group] + sorted_group
    return _Catalogue(item_group, by_group, group_cum, group_end, _cumulative(weight))


def _draw_items(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    user_groups: IntArray,
    affinity: float,
) -> IntArray:
    """One item index per draw: from the user's group with probability ``affinity``."""
    out = np.empty(user_groups.shape[0], dtype=np.int64)
    n_items = catalogue.global_cum.shape[0]
    for start in range(0, out.shape[0], _CHUNK):
        groups = user_groups[start : start + _CHUNK]
        in_group = rng.random(groups.shape[0]) < affinity
        u = rng.random(groups.shape[0])
        position = np.searchsorted(catalogue.group_cum, groups + u, side="right")
        # Float rounding can land one past a group's last item: clamp it back.
        position = np.minimum(position, catalogue.group_end[groups] - 1)
        own = catalogue.by_group[position]
        anywhere = np.minimum(np.searchsorted(catalogue.global_cum, u, side="right"), n_items - 1)
        out[start : start + _CHUNK] = np.where(in_group, own, anywhere)
    return out


def _unique_pairs(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    *,
    user_group: IntArray,
    activity: FloatArray,
    interactions: int,
    affinity: float,
) -> tuple[IntArray, IntArray]:
    """Draw until ``interactions`` distinct (user, item) pairs exist; first-drawn pairs win."""
    n_users = user_group.shape[0]
    n_items = catalogue.global_cum.shape[0]
    # First round: every user gets a few ratings, the rest follows activity.
    base = min(interactions // n_users, 5)
    counts = base + rng.multinomial(interactions - base * n_users, activity / activity.sum())
    draw_users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    activity_cum = _cumulative(activity)
    seen = _EMPTY
    kept_users: list[IntArray] = []
    kept_items: list[IntArray] = []
    total = 0
    for _ in range(_MAX_ROUNDS):
        draw_items = _draw_items(rng, catalogue, user_group[draw_users], affinity)
        keys = draw_users * n_items + draw_items
        # unique() returns the keys sorted: membership in `seen` is then a cache-friendly search.
        fresh, first = np.unique(keys, return_index=True)
        if seen.size:
            at = np.minimum(np.searchsorted(seen, fresh), seen.size - 1)
            is_new = seen[at] != fresh
            fresh, first = fresh[is_new], first[is_new]
        first.sort()
        kept_users.append(draw_users[first])
        kept_items.append(draw_items[first])
        total += first.shape[0]
        if total >= interactions:
            users = np.concatenate(kept_users)[:interactions]
            items = np.concatenate(kept_items)[:interactions]
            return users, items
        # Both parts are sorted: a stable sort of their concatenation is a linear merge.
        seen = np.sort(np.concatenate((seen, fresh)), kind="stable")
        # Redraw the shortfall (plus a margin for new collisions) by activity.
        missing = interactions - total
        extra = int(missing * 1.25) + 64
        draw_users = np.minimum(
            np.searchsorted(activity_cum, rng.random(extra), side="right"), n_users - 1
        ).astype(np.int64)
    raise ValueError(
        f"could not draw {interactions:,} distinct (user, movie) pairs in {_MAX_ROUNDS} rounds: "
        "lower interactions or raise users/items"
    )


def _timestamps(
    rng: np.random.Generator, users: IntArray, n_users: int, start: datetime, end: datetime
) -> tuple[npt.NDArray[np.intp], IntArray]:
    """Row order (by user, then time) and strictly increasing epoch seconds per user."""
    t0, t1 = start.timestamp(), end.timestamp()
    user_start = t0 + rng.random(n_users) * (t1 - t0) * 0.8
    user_span = (t1 - user_start) * rng.uniform(0.05, 1.0, n_users)
    seconds = np.floor(user_start[users] + rng.random(users.shape[0]) * user_span[users])
    whole = seconds.astype(np.int64)
    # One int64 sort key (user, then second) sorts far faster than a two-column lexsort.
    order = np.argsort((users << 34) | whole)
    sorted_users = users[order]
    whole = whole[order]
    # Add each rating's position within its user so no two of a user's ratings share a second
    # (leave-last-out needs one unambiguous last item).
    run_start = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    lengths = np.diff(np.r_[run_start, sorted_users.shape[0]])
    position = np.arange(sorted_users.shape[0]) - np.repeat(run_start, lengths)
    return order, whole + position


def _ratings(rng: np.random.Generator, in_group: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Whole stars: mostly 4-5 for the user's group's items, mostly 1-3 otherwise."""
    liked = np.cumsum([0.0, 0.0, 0.2, 0.45, 0.35])
    other = np.cumsum([0.2, 0.35, 0.3, 0.15, 0.0])
    u = rng.random(in_group.shape[0])
    stars = np.where(
        in_group, np.searchsorted(liked, u, side="right"), np.searchsorted(other, u, side="right")
    )
    return (np.minimum(stars, 4) + 1).astype(np.float32)


def generate(
    *,
    users: int,
    items: int,
    interactions: int,
    seed: int,
    groups: int = 8,
    affinity: float = 0.8,
    exponent: float = 1.0,
    start: datetime = datetime(1996, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2018, 12, 31, tzinfo=UTC),
    name: str = "synth",
) -> SyntheticDataset:
    """A deterministic synthetic dataset of ``interactions`` distinct (user, movie) ratings."""
    _check("users", users, 1)
    _check("groups", groups, 1)
    _check("items", items, groups)
    _check("interactions", interactions, 1, users * items // 2)
    _check("affinity", affinity, 0, 1)
    _check("exponent", exponent, 0, 5)
    if end <= start:
        raise ValueError(f"end={end.isoformat()} must be after start={start.isoformat()}")

    rng = np.random.default_rng(seed)
    catalogue = _catalogue(rng, items, groups, exponent)
    user_group = rng.integers(0, groups, users).astype(np.int64)
    activity = rng.lognormal(0.0, 1.0, users)
    user_index, item_index = _unique_pairs(
        rng,
        catalogue,
        user_group=user_group,
        activity=activity,
        interactions=interactions,
        affinity=affinity,
    )
    order, seconds = _timestamps(rng, user_index, users, start, end)
    user_index, item_index = user_index[order], item_index[order]
    stars = _ratings(rng, catalogue.item_group[item_index] == user_group[user_index])
    ratings = pd.DataFrame(
        {
            "user_id": user_index + 1,
            "movie_id": item_index + 1,
            "rating": stars,
            "rated_at": pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype(
                "datetime64[ns, UTC]"
            ),
        }
    )

    group_genres = tuple(
        tuple(GENRES[(2 * g + j) % len(GENRES)] for j in range(2)) for g in range(groups)
    )
    movie_ids = np.arange(1, items + 1, dtype=np.int64)
    years = rng.integers(1920, 2019, items)
    movies = movies_frame(
        movie_ids,
        pd.Series([f"Synthetic Movie {i}" for i in movie_ids]),
        pd.Series(years),
        [list(group_genres[g]) for g in catalogue.item_group],
    )
    user_frame = users_frame(
        np.arange(1, users + 1),
        gender=pd.Series(np.where(rng.random(users) < 0.7, "M", "F")),
        age=pd.Series(AGES[rng.integers(0, AGES.shape[0], users)]),
        occupation=pd.Series(np.asarray(ML1M_OCCUPATIONS)[rng.integers(0, 21, users)]),
        zip_code=pd.Series(np.char.zfill(rng.integers(0, 100_000, users).astype(str), 5)),
    )
    sorted_group = catalogue.item_group[catalogue.by_group]
    group_items = tuple(catalogue.by_group[sorted_group == g] + 1 for g in range(groups))
    return SyntheticDataset(
        name=name,
        users=user_frame,
        movies=movies,
        ratings=ratings,
        user_group=user_group,
        item_group=catalogue.item_group,
        group_items=group_items,
        group_genres=group_genres,
    )
