"""Splits: known answers, no leakage, every evaluated user has history, seeded determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.evaluation.choices import PROTOCOLS
from recsys.evaluation.splits import (
    Split,
    interactions_from_ratings,
    leave_last_out,
    make_split,
    random_split,
    take,
    temporal_split,
)


def rows(*triples: tuple[int, int, int]) -> Interactions:
    """Interactions from (user, movie, timestamp) triples, rating 4."""
    u, m, t = (np.asarray(col, dtype=np.int64) for col in zip(*triples, strict=True))
    return Interactions(u, m, np.full(u.shape, 4.0, np.float32), t)


def pairs(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.user_ids.tolist(), part.movie_ids.tolist(), strict=True))


@pytest.fixture(scope="module")
def synthetic() -> Interactions:
    data = generate(users=300, items=200, interactions=6000, seed=1)
    return interactions_from_ratings(data.ratings)


OPTIONS: dict[str, dict[str, Any]] = {
    "leave-last-out": {},
    "temporal": {"test_fraction": 0.2},
    "random": {"test_fraction": 0.2, "seed": 7},
}


# -- known answers ------------------------------------------------------------------------------


def test_leave_last_out_takes_the_latest_and_breaks_ties_by_movie_id() -> None:
    data = rows(
        (1, 5, 10), (1, 9, 20), (1, 3, 20),  # tie at t=20: movie 9 > 3 counts as later
        (2, 4, 30), (2, 6, 15),  # latest is movie 4
        (3, 9, 1), (3, 4, 2), (3, 5, 50),  # user 3 has movies 9 and 4 in train
        (4, 5, 99),  # one interaction: train only
    )  # fmt: skip
    split = leave_last_out(data)
    assert pairs(split.test) == {(1, 9), (2, 4), (3, 5)}
    assert pairs(split.train) == {(1, 5), (1, 3), (2, 6), (3, 9), (3, 4), (4, 5)}
    assert split.name == "leave-last-out" and split.params == {"n": 1}


def test_leave_last_out_drops_a_test_movie_nobody_had_in_train() -> None:
    # Held out: (1, 2), (2, 77), (3, 1). Movie 77 occurs nowhere else, so no model can rank it.
    split = leave_last_out(rows((1, 1, 1), (1, 2, 2), (2, 1, 1), (2, 77, 2), (3, 2, 1), (3, 1, 9)))
    assert pairs(split.test) == {(1, 2), (3, 1)}
    assert split.info["test_rows_assigned"] == 3
    assert split.info["test_rows_dropped_unknown_movie"] == 1
    assert (2, 77) not in pairs(split.train)


def test_leave_last_out_n_2_and_users_with_too_few_rows() -> None:
    data = rows((1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (2, 2, 2), (3, 3, 5))
    split = leave_last_out(data, n=2)
    assert pairs(split.test) == {(1, 2), (1, 3)}
    assert pairs(split.train) == {(1, 1), (2, 1), (2, 2), (3, 3)}


def test_temporal_cutoff_keeps_the_last_fifth_and_only_known_users() -> None:
    # Ten rows at t = 1..10: the cut-off is the 8th time, t = 8; t = 9 and t = 10 are test.
    data = rows(
        (1, 1, 1), (2, 1, 2), (1, 2, 3), (2, 2, 4), (1, 3, 5), (2, 3, 6), (3, 1, 7), (3, 2, 8),
        (3, 3, 9),  # known user and movie: kept
        (9, 1, 10),  # user 9 has nothing before the cut-off: dropped
    )  # fmt: skip
    split = temporal_split(data, test_fraction=0.2)
    assert split.info["cutoff"] == 8
    assert pairs(split.test) == {(3, 3)}
    assert len(split.train) == 8
    assert split.info["test_rows_dropped_unknown_user"] == 1


def test_temporal_ties_at_the_cutoff_stay_in_train() -> None:
    # 6 rows, 40% test: the cut-off is the 4th time in order (t = 5); all three t = 5 rows train.
    data = rows((1, 1, 4), (2, 3, 4), (1, 2, 5), (2, 1, 5), (2, 2, 5), (1, 3, 6))
    split = temporal_split(data, test_fraction=0.4)
    assert split.info["cutoff"] == 5
    assert pairs(split.test) == {(1, 3)} and len(split.train) == 5
    with pytest.raises(ValueError, match="no interaction is after the cut-off"):
        temporal_split(rows((1, 1, 5), (2, 2, 5)), test_fraction=0.5)


def test_random_split_test_counts_per_user() -> None:
    data = rows(
        *((1, m, m) for m in range(10)),  # 10 rows -> round(2.0) = 2 test
        *((2, m, m) for m in range(3)),  # 3 -> round(0.6) = 1
        *((3, m, m) for m in range(2)),  # 2 -> round(0.4) = 0, but at least 1
        (4, 1, 1),  # 1 -> train only
        *((5, m, m) for m in range(10)),  # 10 -> 2; keeps most movies in train
    )
    split = random_split(data, test_fraction=0.2, seed=11)
    assigned = pairs(data) - pairs(split.train)  # test rows, dropped ones included
    per_user = {u: sum(1 for v, _ in assigned if v == u) for u in (1, 2, 3, 4, 5)}
    assert per_user == {1: 2, 2: 1, 3: 1, 4: 0, 5: 2}
    assert split.info["test_rows_assigned"] == 6


# -- invariants on every protocol ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_leakage_and_every_test_user_and_movie_is_in_train(
    synthetic: Interactions, protocol: str
) -> None:
    split = make_split(synthetic, protocol=protocol, **OPTIONS[protocol])
    train, test = pairs(split.train), pairs(split.test)
    assert not train & test
    assert train | test <= pairs(synthetic)
    assert len(split.train) + split.info["test_rows_assigned"] == len(synthetic)
    dropped = split.info["test_rows_dropped_unknown_user"]
    dropped += split.info["test_rows_dropped_unknown_movie"]
    assert len(split.test) == split.info["test_rows_assigned"] - dropped
    assert set(split.test.user_ids.tolist()) <= set(split.train.user_ids.tolist())
    assert set(split.test.movie_ids.tolist()) <= set(split.train.movie_ids.tolist())
    stats = split.stats()
    assert stats["train"]["interactions"] == len(split.train)
    assert stats["test"]["users"] == len(set(split.test.user_ids.tolist()))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_rows_in_any_order_give_the_same_split(synthetic: Interactions, protocol: str) -> None:
    shuffled = take(synthetic, np.random.default_rng(0).permutation(len(synthetic)))
    first = make_split(synthetic, protocol=protocol, **OPTIONS[protocol])
    second = make_split(shuffled, protocol=protocol, **OPTIONS[protocol])
    assert pairs(first.test) == pairs(second.test)
    assert pairs(first.train) == pairs(second.train)


def test_random_split_depends_on_the_seed(synthetic: Interactions) -> None:
    one = random_split(synthetic, seed=1)
    assert pairs(one.test) == pairs(random_split(synthetic, seed=1).test)
    assert pairs(one.test) != pairs(random_split(synthetic, seed=2).test)
    share = split_share(one)
    assert 0.18 < share < 0.22


def test_leave_last_out_test_is_each_users_latest(synthetic: Interactions) -> None:
    split = leave_last_out(synthetic)
    latest_train: dict[int, int] = {}
    for u, t in zip(split.train.user_ids.tolist(), split.train.timestamps.tolist(), strict=True):
        latest_train[u] = max(t, latest_train.get(u, t))
    for u, t in zip(split.test.user_ids.tolist(), split.test.timestamps.tolist(), strict=True):
        assert t >= latest_train[u]
    assert np.unique(split.test.user_ids).shape[0] == len(split.test)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_validation_is_carved_out_of_train_only(synthetic: Interactions, protocol: str) -> None:
    split = make_split(synthetic, protocol=protocol, **OPTIONS[protocol])
    validation = split.validation()
    assert validation.name == split.name and validation.params == split.params
    assert validation.info["of"] == "train"
    inner = pairs(validation.train) | pairs(validation.test)
    assert inner <= pairs(split.train)
    assert not inner & pairs(split.test)
    assert not pairs(validation.train) & pairs(validation.test)
    if protocol == "temporal":
        assert validation.info["cutoff"] < split.info["cutoff"]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: make_split(d, protocol="kfold"), "unknown protocol 'kfold'"),
        (lambda d: leave_last_out(d, n=0), "n must be an integer >= 1"),
        (
            lambda d: temporal_split(d, test_fraction=1.0),
            r"test_fraction must be a number in \(0, 1\)",
        ),
        (lambda d: random_split(d, seed=-1), "seed must be an integer >= 0"),
        (lambda d: leave_last_out(take(d, np.array([0, 0, 1]))), "duplicate"),
        (lambda d: leave_last_out(take(d, np.array([0]))), "need at least 2"),
    ],
)
def test_bad_input_is_named(synthetic: Interactions, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(synthetic)


def split_share(split: Split) -> float:
    assigned = int(split.info["test_rows_assigned"])
    return assigned / (len(split.train) + assigned)
