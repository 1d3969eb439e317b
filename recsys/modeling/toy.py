"""Tiny interaction sets whose right answers are obvious, for tests and walkthroughs."""

from __future__ import annotations

import numpy as np

from recsys.data.frames import Interactions
from recsys.modeling.items import ItemAttributes

GROUP_A_FIRST_ITEM = 100
GROUP_B_FIRST_ITEM = 200


def two_taste_groups(*, users_a: int = 12, users_b: int = 6, items: int = 8) -> Interactions:
    """Group-A users (ids 1..users_a) rate only movies 100.., group-B users only movies 200...

    User ``u`` skips two movies of its group (positions ``u % items`` and ``(u+1) % items``),
    so every user has something left to be recommended. With the defaults every A movie is
    rated more often than any B movie, so popularity also ranks group A first.
    """
    if users_a <= users_b or items < 4:
        raise ValueError("need users_a > users_b and items >= 4")
    users: list[int] = []
    movies: list[int] = []
    ratings: list[float] = []
    for u in range(1, users_a + users_b + 1):
        first = GROUP_A_FIRST_ITEM if u <= users_a else GROUP_B_FIRST_ITEM
        skipped = {u % items, (u + 1) % items}
        for i in range(items):
            if i not in skipped:
                users.append(u)
                movies.append(first + i)
                ratings.append(float(3 + (u + i) % 3))
    n = len(users)
    return Interactions(
        user_ids=np.asarray(users, dtype=np.int64),
        movie_ids=np.asarray(movies, dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float32),
        timestamps=np.arange(1_600_000_000, 1_600_000_000 + n, dtype=np.int64),
    )


def random_interactions(
    *, users: int = 60, items: int = 40, density: float = 0.15, seed: int = 0
) -> Interactions:
    """Uniformly random ratings 1..5 (no ties in practice), for cross-checks against implicit."""
    rng = np.random.default_rng(seed)
    mask = rng.random((users, items)) < density
    mask[np.arange(users), rng.integers(0, items, users)] = True  # nobody is empty
    mask[rng.integers(0, users, items), np.arange(items)] = True  # no item is unrated
    rows, cols = np.nonzero(mask)
    return Interactions(
        user_ids=(rows + 1).astype(np.int64),
        movie_ids=(cols * 10 + 7).astype(np.int64),
        ratings=rng.integers(1, 6, rows.shape[0]).astype(np.float32),
        timestamps=rng.integers(1_500_000_000, 1_700_000_000, rows.shape[0]).astype(np.int64),
    )


def two_taste_items(*, items: int = 8) -> ItemAttributes:
    """Years and genres of ``two_taste_groups``' movies: group A is "Drama", group B "Comedy"."""
    ids = [GROUP_A_FIRST_ITEM + i for i in range(items)] + [
        GROUP_B_FIRST_ITEM + i for i in range(items)
    ]
    years = [1990 + i for i in range(items)] + [1970 + i for i in range(items)]
    genres = [("Drama",)] * items + [("Comedy",)] * items
    return ItemAttributes.from_records(ids, years, genres)
