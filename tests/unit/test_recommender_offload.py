"""Scoring runs on the event loop for small catalogues and in a worker thread for big ones."""

from __future__ import annotations

import threading

import pytest

from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service import recommend


async def test_scoring_moves_to_a_thread_only_above_the_catalogue_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = create_model("popularity").fit(build_matrix(two_taste_groups(), weighting="binary"))
    loop_thread = threading.get_ident()
    assert model.n_items < recommend.OFFLOAD_MIN_ITEMS
    assert await recommend._run_scoring(model, threading.get_ident) == loop_thread
    monkeypatch.setattr(recommend, "OFFLOAD_MIN_ITEMS", model.n_items)
    assert await recommend._run_scoring(model, threading.get_ident) != loop_thread
