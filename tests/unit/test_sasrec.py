"""``sasrec``: the numpy encoder equals the torch one, training windows, seeds, known answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.artifacts import LocalArtifactStore, load_model, save_model
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.errors import ModelStateError
from recsys.modeling.registry import create_model, model_class
from recsys.modeling.sasrec.model import SASRecRecommender
from recsys.modeling.sasrec.network import encode, item_scores
from recsys.modeling.sasrec.params import SASRecParams
from tests.support.torch import require_torch

CHAIN = [10 * (i + 1) for i in range(12)]  # movies 10, 20, ..., 120 watched in this order


def chain_interactions() -> Interactions:
    """36 users each watch a run of 5 consecutive movies of CHAIN: the next movie is obvious."""
    users, movies, times = [], [], []
    for u in range(36):
        start = u % 8
        for j, movie in enumerate(CHAIN[start : start + 5]):
            users.append(u + 1)
            movies.append(movie)
            times.append(1_600_000_000 + 100 * u + j)
    n = len(users)
    return Interactions(
        user_ids=np.asarray(users, dtype=np.int64),
        movie_ids=np.asarray(movies, dtype=np.int64),
        ratings=np.full(n, 4.0, dtype=np.float32),
        timestamps=np.asarray(times, dtype=np.int64),
    )


def fit_chain(**overrides: Any) -> SASRecRecommender:
    params = {**model_class("sasrec").example_params, "max_epochs": 60, **overrides}
    model = create_model("sasrec", params).fit(build_matrix(chain_interactions()))
    assert isinstance(model, SASRecRecommender)
    return model


@pytest.fixture(scope="module")
def chain_model() -> SASRecRecommender:
    require_torch()
    return fit_chain()


def test_the_next_movie_of_the_chain_comes_first(chain_model: SASRecRecommender) -> None:
    for end in range(2, 9):
        history = History.of(CHAIN[end - 2 : end + 1], timestamps=[1, 2, 3])
        ids, _ = chain_model.recommend(999, history=history, k=3)
        assert ids[0] == CHAIN[end + 1], (CHAIN[end - 2 : end + 1], ids)


def test_order_is_read_from_timestamps_not_the_given_order(
    chain_model: SASRecRecommender,
) -> None:
    # The same three movies: timestamps say 30 was watched last, so 40 is next.
    history = History.of([30, 10, 20], timestamps=[3, 1, 2])
    assert chain_model.recommend(1, history=history, k=1)[0][0] == 40


def test_numpy_encoder_equals_the_torch_module(chain_model: SASRecRecommender) -> None:
    import torch

    from recsys.modeling.sasrec.torch_net import SASRecNet

    weights = chain_model.weights
    p = chain_model.params
    net = SASRecNet(
        n_items=chain_model.n_items, max_len=p.max_len, hidden=p.hidden, blocks=p.blocks,
        heads=p.heads, dropout=0.0,
    )  # fmt: skip
    net.load_weights(weights)
    net.eval()
    # Right-aligned rows with padding on the left, as batch scoring builds them.
    grid = np.array([[0, 0, 0, 1, 2, 3], [0, 4, 5, 6, 7, 8], [9, 10, 11, 12, 1, 2]])
    with torch.no_grad():
        expected = net.logits(net(torch.from_numpy(grid))[:, -1, :]).numpy()
    got = item_scores(weights, encode(weights, grid.astype(np.intp)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # A row alone, unpadded, gives what its padded batch row gave.
    alone = item_scores(weights, encode(weights, grid[:1, 3:].astype(np.intp)))
    np.testing.assert_allclose(alone[0], got[0], rtol=1e-5, atol=1e-6)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    require_torch()
    first, again, other = (
        fit_chain(max_epochs=5),
        fit_chain(max_epochs=5),
        fit_chain(max_epochs=5, random_state=7),
    )
    for a, b in zip(
        first.weights.to_arrays().values(), again.weights.to_arrays().values(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.weights.items, other.weights.items)


def test_windows_cut_long_histories_right_aligned() -> None:
    require_torch()
    from recsys.modeling.sasrec.training import _windows

    # Row 0: items 0..4 (5 entries, 4 targets); row 1: items 7, 8.
    rows = np.array([0, 0, 0, 0, 0, 1, 1], dtype=np.intp)
    cols = np.array([0, 1, 2, 3, 4, 7, 8], dtype=np.intp)
    inputs, targets = _windows(rows, cols, 3)
    # Values are item index + 1; row 0's 4 targets take two windows of 3, latest last.
    np.testing.assert_array_equal(targets, [[3, 4, 5], [0, 0, 2], [0, 0, 9]])
    np.testing.assert_array_equal(inputs, [[2, 3, 4], [0, 0, 1], [0, 0, 8]])


def test_early_stopping_keeps_the_best_epoch_and_reports_it() -> None:
    require_torch()
    model = fit_chain(validation_share=1.0, patience=3, max_epochs=200)
    d = model.diagnostics
    assert d["validation_users"] == 36
    assert d["epochs"] < 200 and d["epochs"] - d["best_epoch"] == 3
    assert d["validation_ndcg10"] > 0.5


def test_empty_history_ranks_by_training_popularity(chain_model: SASRecRecommender) -> None:
    ids, _ = chain_model.recommend(999, history=History.empty(), k=3)
    # CHAIN[4..7] are watched by the most runs (5 starts each cover them).
    assert set(ids.tolist()) <= {50, 60, 70, 80}


def test_load_refuses_weights_of_another_shape(
    chain_model: SASRecRecommender, tmp_path: Path
) -> None:
    state = chain_model.to_state()
    state["sasrec"]["b0.wq"] = state["sasrec"]["b0.wq"][:, :-1]
    with pytest.raises(ModelStateError, match=r"b0\.wq has shape"):
        SASRecRecommender.from_state(chain_model.params.to_dict(), chain_model.data_info, state)
    store = LocalArtifactStore(tmp_path)
    save_model(store, chain_model)
    loaded, _ = load_model(store, "sasrec")
    history = History.of([10, 20], timestamps=[1, 2])
    np.testing.assert_array_equal(
        loaded.recommend(1, history=history, k=5)[1],
        chain_model.recommend(1, history=history, k=5)[1],
    )


def test_heads_must_divide_hidden() -> None:
    with pytest.raises(ValueError, match=r"sasrec\.heads must divide sasrec\.hidden \(64\)"):
        SASRecParams(hidden=64, heads=3)


def test_loading_and_scoring_need_no_torch(chain_model: SASRecRecommender, tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    save_model(store, chain_model)
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from recsys.modeling.artifacts import LocalArtifactStore, load_model\n"
        "from recsys.modeling.base import History\n"
        f"model, _ = load_model(LocalArtifactStore({str(tmp_path)!r}), 'sasrec')\n"
        "history = History.of([10, 20, 30], timestamps=[1, 2, 3])\n"
        "print(model.recommend(1, history=history, k=1)[0][0])\n"
        "from recsys.modeling.dataset import build_matrix\n"
        "from recsys.modeling.toy import two_taste_groups\n"
        "from recsys.modeling.registry import create_model\n"
        "try:\n"
        "    create_model('sasrec').fit(build_matrix(two_taste_groups()))\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, message = done.stdout.splitlines()
    assert first == "40"
    assert message.startswith("sasrec needs PyTorch to train") and "CPU wheel index" in message


def test_ci_installs_torch() -> None:
    # .ci/run installs the CPU build; under CI its absence is a failure, not a skip.
    if os.environ.get("CI"):
        import torch

        assert torch.__version__
    else:
        require_torch()
