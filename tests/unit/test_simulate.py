"""Offline A/B test and feedback loop: known statistics, cross-checked clicks, CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.evaluation.experiment import seeded_params
from recsys.evaluation.runner import fit_model
from recsys.evaluation.simulations.ab import assign_arms, simulate_ab
from recsys.evaluation.simulations.feedback_loop import simulate_feedback_loop, time_windows
from recsys.evaluation.splits import interactions_from_ratings, leave_last_out, take
from recsys.evaluation.statistics import two_proportion_test
from recsys.modeling.base import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def synth() -> Interactions:
    return interactions_from_ratings(
        generate(users=300, items=200, interactions=6000, seed=1).ratings
    )


# -- arms ---------------------------------------------------------------------------------------


def test_arms_are_seeded_balanced_and_ignore_listing_order() -> None:
    users = np.arange(1, 101, dtype=np.int64)
    in_b = assign_arms(users, seed=3)
    assert int(in_b.sum()) == 50
    np.testing.assert_array_equal(in_b, assign_arms(users, seed=3))
    assert not np.array_equal(in_b, assign_arms(users, seed=4))
    shuffled = users[::-1].copy()
    np.testing.assert_array_equal(assign_arms(shuffled, seed=3)[::-1], in_b)
    assert int(assign_arms(users, seed=3, share_b=0.2).sum()) == 20


# -- A/B ----------------------------------------------------------------------------------------


def test_ab_clicks_match_each_policy_served_one_user_at_a_time(synth: Interactions) -> None:
    result = simulate_ab(synth, policy_a="popularity", policy_b="ease", k=10, seed=7)
    split = leave_last_out(synth)
    users = np.unique(split.test.user_ids)
    in_b = assign_arms(users, seed=7)
    assert (result.a.users, result.b.users) == (int((~in_b).sum()), int(in_b.sum()))
    # Recount the clicks through the single-user recommend path.
    for arm, members in ((result.a, users[~in_b]), (result.b, users[in_b])):
        model, _ = fit_model(arm.policy, split.train, params=seeded_params(arm.policy, {}, seed=7))
        clicks = 0
        for user in members:
            rows = split.train.user_ids == user
            history = History.of(split.train.movie_ids[rows], split.train.ratings[rows])
            top, _ = model.recommend(int(user), history=history, k=10)
            target = split.test.movie_ids[split.test.user_ids == user]
            clicks += int(np.isin(target, top).any())
        assert arm.clicks == clicks
    expected = two_proportion_test(result.a.clicks, result.a.users, result.b.clicks, result.b.users)
    assert result.test == expected
    # On taste-clustered synthetic data EASE beats popularity by far.
    assert result.winner == "ease" and "ease wins" in result.verdict()


def test_ab_refuses_one_policy_twice(synth: Interactions) -> None:
    with pytest.raises(ValueError, match="both 'als'"):
        simulate_ab(synth, policy_a="als", policy_b="als")


# -- feedback loop ------------------------------------------------------------------------------


def test_windows_are_equal_consecutive_runs_in_time(synth: Interactions) -> None:
    window = time_windows(synth, windows=4)
    assert np.bincount(window).tolist() == [1500] * 4
    for w in range(3):
        assert synth.timestamps[window == w].max() <= synth.timestamps[window == w + 1].min()
    with pytest.raises(ValueError, match=r"windows must be an integer in \[2, 50\]"):
        time_windows(synth, windows=1)


def test_replay_trains_on_everything_before_the_scored_window(synth: Interactions) -> None:
    result = simulate_feedback_loop(synth, policies=["popularity", "ease"], windows=4, k=10)
    window = time_windows(synth, windows=4)
    for policy in ("popularity", "ease"):
        steps = result.series(policy)
        assert [s.window for s in steps] == [2, 3, 4]
        assert [s.train_rows for s in steps] == [1500, 3000, 4500]
        for step in steps:
            seen = take(synth, window < step.window - 1)
            scored = take(synth, window == step.window - 1)
            known = np.isin(scored.user_ids, seen.user_ids) & np.isin(
                scored.movie_ids, seen.movie_ids
            )
            assert step.test_rows == int(known.sum())
            assert step.dropped_rows == len(scored) - step.test_rows
            assert step.test_users == np.unique(scored.user_ids[known]).shape[0]
            assert 0.0 <= step.ndcg.mean <= step.hr.mean <= 1.0
    ease, popularity = result.series("ease")[-1], result.series("popularity")[-1]
    assert ease.ndcg.mean > popularity.ndcg.mean and ease.coverage > popularity.coverage


def test_closed_loop_learns_only_what_its_lists_caught(synth: Interactions) -> None:
    result = simulate_feedback_loop(
        synth, policies=["popularity"], windows=4, k=10, feedback="clicks"
    )
    steps = result.series("popularity")
    assert steps[0].train_rows == 1500
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.train_rows == before.train_rows + before.clicked_rows
    assert 0 < steps[0].clicked_rows < steps[0].test_rows


# -- recsys simulate ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(generate(users=300, items=200, interactions=6000, seed=1), root / "synth")
    return root


def simulate(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["simulate", *args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def test_cli_ab_prints_and_writes_the_verdict(data_dir: Path, tmp_path: Path) -> None:
    code, stdout, stderr = simulate(
        data_dir, "ab", "-d", "synth", "--policy-b", "item_knn", "--out", str(tmp_path)
    )
    assert code == 0, stdout + stderr
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert [arm["policy"] for arm in saved["arms"]] == ["popularity", "item_knn"]
    assert sum(arm["users"] for arm in saved["arms"]) == saved["split"]["test"]["users"]
    assert saved["verdict"] in stdout
    assert "| A | popularity |" in (tmp_path / "ab.md").read_text()


def test_cli_feedback_loop_writes_table_json_and_plot(data_dir: Path, tmp_path: Path) -> None:
    code, stdout, stderr = simulate(
        data_dir,
        "feedback-loop",
        "-d",
        "synth",
        "--windows",
        "3",
        "--policies",
        "popularity,svd",
        "--out",
        str(tmp_path),
    )
    assert code == 0, stdout + stderr
    saved = json.loads((tmp_path / "feedback_loop.json").read_text())
    assert [(s["policy"], s["window"]) for s in saved["steps"]] == [
        ("popularity", 2),
        ("popularity", 3),
        ("svd", 2),
        ("svd", 3),
    ]
    assert (tmp_path / "feedback_loop.png").read_bytes().startswith(PNG_MAGIC)
    markdown = (tmp_path / "feedback_loop.md").read_text()
    assert "![metrics per window](feedback_loop.png)" in markdown
    # Every table row has as many cells as its header.
    tables = [line for line in markdown.splitlines() if line.startswith("|")]
    header, separator, *rows = tables[tables.index(next(t for t in tables if "policy" in t)) :]
    assert header.count("|") == separator.count("|") == rows[0].count("|") == 11


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ab", "--policy-a", "als", "--policy-b", "als"), "both 'als'"),
        (("ab", "--policy-b", "nope"), "unknown model type 'nope'"),
        (("ab", "-d", "missing"), "missing"),
        (("feedback-loop", "--policies", "popularity,nope"), "unknown model type 'nope'"),
        (("feedback-loop", "--policies", " , "), "--policies takes model types"),
        (("feedback-loop", "--feedback", "some"), "--feedback must be one of all, clicks"),
    ],
)
def test_cli_errors_are_one_line(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    code, _, stderr = simulate(data_dir, *args)
    assert code == 1
    assert message in stderr and "Traceback" not in stderr
