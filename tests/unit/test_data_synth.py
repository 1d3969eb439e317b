"""The synthetic generator: deterministic, unique pairs, power-law popularity, known groups."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
import pytest

from recsys.data import load_dataset
from recsys.data.synth import SyntheticDataset, generate
from recsys.data.writer import write_dataset


class Size(TypedDict):
    users: int
    items: int
    interactions: int


SIZE: Size = {"users": 2_000, "items": 1_000, "interactions": 20_000}


@pytest.fixture(scope="module")
def synth() -> SyntheticDataset:
    return generate(**SIZE, seed=3)


def item_counts(dataset: SyntheticDataset, items: int) -> np.ndarray:
    counts = dataset.ratings["movie_id"].value_counts().reindex(range(1, items + 1), fill_value=0)
    return np.sort(counts.to_numpy())[::-1]


def test_same_seed_same_frames(synth: SyntheticDataset) -> None:
    again = generate(**SIZE, seed=3)
    for frame in ("users", "movies", "ratings"):
        pd.testing.assert_frame_equal(getattr(synth, frame), getattr(again, frame))
    np.testing.assert_array_equal(synth.user_group, again.user_group)
    for mine, theirs in zip(synth.group_items, again.group_items, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_different_seed_different_ratings(synth: SyntheticDataset) -> None:
    other = generate(**SIZE, seed=4)
    assert not synth.ratings.equals(other.ratings)
    assert not np.array_equal(synth.user_group, other.user_group)


def test_sizes_ids_and_canonical_dtypes(synth: SyntheticDataset) -> None:
    assert (len(synth.users), len(synth.movies), len(synth.ratings)) == (2_000, 1_000, 20_000)
    assert synth.users["id"].tolist() == list(range(1, 2_001))
    assert synth.ratings.dtypes.astype(str).tolist() == [
        "int64",
        "int64",
        "float32",
        "datetime64[ns, UTC]",
    ]
    assert synth.movies.loc[16, "title"] == "Synthetic Movie 17"
    assert synth.movies["year"].min() >= 1920 and synth.movies["year"].max() <= 2018


def test_unique_pairs_ratings_and_every_user_active(synth: SyntheticDataset) -> None:
    ratings = synth.ratings
    assert not ratings.duplicated(["user_id", "movie_id"]).any()
    assert set(ratings["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # interactions >= users, so every user has at least one rating
    assert ratings["user_id"].nunique() == 2_000


def test_timestamps_strictly_increase_per_user(synth: SyntheticDataset) -> None:
    seconds = synth.ratings["rated_at"].astype("int64")
    same_user = synth.ratings["user_id"].diff() == 0
    assert (seconds.diff()[same_user] > 0).all()
    assert synth.ratings["rated_at"].min() >= pd.Timestamp("1996-01-01", tz="UTC")


def test_popularity_is_power_law_shaped(synth: SyntheticDataset) -> None:
    counts = item_counts(synth, 1_000)
    assert counts[:100].sum() / counts.sum() > 0.4  # the top 10% of items take over 40%
    rank = np.arange(1, 201)
    slope = np.polyfit(np.log(rank), np.log(counts[:200]), 1)[0]
    assert -1.3 < slope < -0.5  # a straight, falling line on log-log axes


def test_zero_exponent_is_flat() -> None:
    flat = generate(**SIZE, seed=3, exponent=0.0)
    counts = item_counts(flat, 1_000)
    assert counts[:100].sum() / counts.sum() < 0.2


def test_users_get_their_groups_items(synth: SyntheticDataset) -> None:
    ratings = synth.ratings
    groups_of_users = synth.user_group[ratings["user_id"].to_numpy() - 1]
    groups_of_items = synth.item_group[ratings["movie_id"].to_numpy() - 1]
    in_group = groups_of_users == groups_of_items
    assert in_group.mean() > 0.6  # affinity 0.8, minus collisions with already-rated items
    assert ratings["rating"][in_group].mean() > ratings["rating"][~in_group].mean() + 1.0
    for group, items in enumerate(synth.group_items):
        assert (synth.item_group[items - 1] == group).all()
        # A group's own popular items dominate what its users rate; the rest are the few global
        # hits every group meets through the (1 - affinity) share of catalogue-wide draws.
        top = ratings["movie_id"][groups_of_users == group].value_counts().index[:10]
        assert len(set(top) & set(items[:25].tolist())) >= 7
        genres = synth.movies.set_index("id").loc[items[0], "genres"]
        assert tuple(genres) == synth.group_genres[group]


def test_write_then_load_round_trip(synth: SyntheticDataset, tmp_path: Path) -> None:
    write_dataset(synth, tmp_path / "synth")
    header = (tmp_path / "synth" / "ratings.csv").read_text().splitlines()[0]
    assert header == "userId,movieId,rating,timestamp"
    loaded = load_dataset(tmp_path / "synth")
    for frame in ("users", "movies", "ratings"):
        pd.testing.assert_frame_equal(getattr(loaded, frame), getattr(synth, frame))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("users", 0, "users=0 is out of range: allowed >= 1"),
        ("items", 4, "items=4 is out of range: allowed >= 8"),
        ("interactions", 1_000_001, "interactions=1,000,001 is out of range: allowed 1..1,000,000"),
        ("affinity", 1.5, "affinity=1.5 is out of range: allowed 0..1"),
    ],
)
def test_bad_parameters_name_the_allowed_range(option: str, value: float, message: str) -> None:
    options: dict[str, float] = {"users": 2_000, "items": 1_000, "interactions": 20_000, "seed": 0}
    options[option] = value
    with pytest.raises(ValueError, match=message):
        generate(**options)  # type: ignore[arg-type]
