"""Fold-ins remembered by history: a repeat skips the solve, a changed history never reads an old
vector, the memo stays inside its byte bound, and a new fit starts an empty one."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest

from recsys.modeling.base import History
from recsys.modeling.dataset import FloatArray, IndexArray, build_matrix
from recsys.modeling.fold_memo import FoldMemo, HistoryMemo
from recsys.modeling.latent import LatentFactorRecommender
from recsys.modeling.registry import create_model
from recsys.modeling.toy import GROUP_A_FIRST_ITEM, GROUP_B_FIRST_ITEM, two_taste_groups


class CountingFold:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, cols: IndexArray, weights: FloatArray) -> FloatArray:
        self.calls += 1
        return np.full(4, float(cols.sum() + weights.sum()), dtype=np.float32)


def row(*cols: int, weight: float = 1.0) -> tuple[IndexArray, FloatArray]:
    return np.array(cols, dtype=np.intp), np.full(len(cols), weight, dtype=np.float32)


def test_the_same_history_is_folded_once_and_shared_read_only() -> None:
    memo, fold = FoldMemo(), CountingFold()
    first = memo.get(*row(1, 2, 3), fold)
    again = memo.get(*row(1, 2, 3), fold)
    assert fold.calls == 1 and again is first
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 0.0


def test_another_weight_or_column_is_another_history() -> None:
    memo, fold = FoldMemo(), CountingFold()
    memo.get(*row(1, 2, 3), fold)
    assert memo.get(*row(1, 2, 3, weight=2.0), fold)[0] == 12.0  # 6 + 3 x 2
    assert memo.get(*row(1, 2, 4), fold)[0] == 10.0
    assert fold.calls == 3 and len(memo) == 3


def test_the_oldest_histories_leave_first_past_the_byte_bound() -> None:
    one_entry = len(b"<i8<f4") + 3 * 12 + 400
    memo, fold = FoldMemo(max_bytes=2 * one_entry), CountingFold()
    for first in (1, 2, 3):
        memo.get(*row(first, 10, 20), fold)
    assert len(memo) == 2
    memo.get(*row(3, 10, 20), fold)  # still there
    memo.get(*row(1, 10, 20), fold)  # left first: folded again
    assert fold.calls == 4


def test_a_history_bigger_than_the_bound_is_answered_but_not_kept() -> None:
    memo, fold = FoldMemo(max_bytes=100), CountingFold()
    memo.get(*row(*range(50)), fold)
    assert len(memo) == 0 and fold.calls == 1


def als() -> LatentFactorRecommender[Any]:
    model = create_model("als", {"factors": 4, "iterations": 5}).fit(
        build_matrix(two_taste_groups())
    )
    assert isinstance(model, LatentFactorRecommender)
    return model


def test_an_als_answer_follows_its_history_and_a_new_fit_forgets_the_old_vectors() -> None:
    model = als()
    group_a = History(np.arange(GROUP_A_FIRST_ITEM, GROUP_A_FIRST_ITEM + 3), np.full(3, 5.0))
    group_b = History(np.arange(GROUP_B_FIRST_ITEM, GROUP_B_FIRST_ITEM + 3), np.full(3, 5.0))
    a_answer = model.recommend(1, history=group_a, k=3)
    b_answer = model.recommend(1, history=group_b, k=3)
    # Same user, another history: the other group's movies, not a remembered vector's.
    assert set(a_answer[0]) <= set(range(GROUP_A_FIRST_ITEM, GROUP_A_FIRST_ITEM + 8))
    assert set(b_answer[0]) <= set(range(GROUP_B_FIRST_ITEM, GROUP_B_FIRST_ITEM + 8))
    np.testing.assert_array_equal(model.recommend(1, history=group_a, k=3)[0], a_answer[0])
    assert len(model._fold_memo) == 2
    model.fit(build_matrix(two_taste_groups()))
    assert len(model._fold_memo) == 0


def test_a_history_memo_counts_its_values_bytes_in_the_bound() -> None:
    calls: list[bytes] = []

    def compute(key: bytes) -> FloatArray:
        calls.append(key)
        return np.zeros(100, dtype=np.float32)  # 400 bytes

    def nbytes(value: FloatArray) -> int:
        return int(value.nbytes)

    memo: HistoryMemo[FloatArray] = HistoryMemo(max_bytes=2 * (2 + 400 + 400))
    for key in (b"k1", b"k2", b"k3"):
        memo.get(key, partial(compute, key), nbytes)
    assert len(memo) == 2  # the values' bytes count: the first key left
    memo.get(b"k3", partial(compute, b"k3"), nbytes)
    memo.get(b"k1", partial(compute, b"k1"), nbytes)
    assert calls == [b"k1", b"k2", b"k3", b"k1"]
