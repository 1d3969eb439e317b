"""Random search: seeded and reproducible, never shown the test part, failures contained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.evaluation import tuning_run
from recsys.evaluation.runner import fit_model
from recsys.evaluation.splits import Split, interactions_from_ratings, make_split
from recsys.evaluation.tuning import sample_configurations
from recsys.evaluation.tuning_results import TuningResult
from recsys.evaluation.tuning_run import run_tuning, tune, validation_folds
from recsys.modeling.ease import EASEParams
from recsys.modeling.search import Choice, LogUniform, Uniform


@pytest.fixture(scope="module")
def synth() -> Interactions:
    return interactions_from_ratings(
        generate(users=300, items=200, interactions=6000, seed=1).ratings
    )


def pairs(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.user_ids.tolist(), part.movie_ids.tolist(), strict=True))


# -- sampling -----------------------------------------------------------------------------------


def test_dimensions_stay_in_range_and_keep_their_type() -> None:
    rng = np.random.default_rng(0)
    floats = [LogUniform(0.01, 10.0).sample(rng) for _ in range(200)]
    ints = [LogUniform(4, 400, integer=True).sample(rng) for _ in range(200)]
    uniform = [Uniform(0.0, 1.0).sample(rng) for _ in range(200)]
    assert all(0.01 <= v <= 10.0 and isinstance(v, float) for v in floats)
    assert all(4 <= v <= 400 and isinstance(v, int) for v in ints)
    assert all(0.0 <= v <= 1.0 for v in uniform)
    # Log-uniform: about as many draws below the geometric mean (1.0) as above it.
    assert 70 <= sum(v < 1.0 for v in floats) <= 130
    assert {Choice(("a", "b")).sample(rng) for _ in range(50)} == {"a", "b"}


def test_configurations_are_seeded_distinct_and_lead_with_the_given_one() -> None:
    space: dict[str, Choice | LogUniform | Uniform] = {
        "l2": LogUniform(1.0, 1000.0),
        "k": Choice((5, 10, 20)),
    }
    first = sample_configurations(space, n=8, seed=3, first={"l2": 250.0, "k": 10, "extra": 1})
    assert first == sample_configurations(space, n=8, seed=3, first={"l2": 250.0, "k": 10})
    assert first != sample_configurations(space, n=8, seed=4, first={"l2": 250.0, "k": 10})
    assert first[0] == {"k": 10, "l2": 250.0}
    assert len({tuple(c.values()) for c in first}) == 8


def test_a_small_discrete_space_runs_out() -> None:
    configurations = sample_configurations({"k": Choice((1, 2, 3))}, n=10, seed=0)
    assert sorted(c["k"] for c in configurations) == [1, 2, 3]


# -- the search ---------------------------------------------------------------------------------


def test_same_seed_same_search_and_the_best_is_the_maximum(synth: Interactions) -> None:
    def run(seed: int) -> TuningResult:
        return run_tuning(
            synth, model_type="ease", protocol="leave-last-out", trials=4, k=10, seed=seed
        )

    one, again, other = run(5), run(5), run(6)
    assert [t.params for t in one.trials] == [t.params for t in again.trials]
    assert [t.value for t in one.trials] == [t.value for t in again.trials]
    assert [t.sampled for t in one.trials] != [t.sampled for t in other.trials]
    assert one.trials[0].params == one.defaults == EASEParams().to_dict()
    assert one.baseline is one.trials[0]
    assert one.best.value == max(t.value for t in one.trials)
    assert all(0.0 < t.value <= 1.0 and t.estimate is not None for t in one.trials)


def test_the_seed_reaches_seeded_models(synth: Interactions) -> None:
    result = run_tuning(synth, model_type="svd", protocol="random", trials=2, seed=9)
    assert all(t.params["random_state"] == 9 for t in result.trials)


def test_the_tuner_only_ever_sees_the_validation_folds(
    synth: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = make_split(synth, protocol="leave-last-out")
    handed: list[Split] = []
    fitted: list[Interactions] = []
    real_tune, real_fit = tuning_run.tune, fit_model

    def spy_tune(folds: list[Split], **options: Any) -> TuningResult:
        handed.extend(folds)
        return real_tune(folds, **options)

    def spy_fit(model_type: str, train: Interactions, **options: Any) -> Any:
        fitted.append(train)
        return real_fit(model_type, train, **options)

    monkeypatch.setattr(tuning_run, "tune", spy_tune)
    monkeypatch.setattr(tuning_run, "fit_model", spy_fit)
    run_tuning(synth, model_type="cooccurrence", protocol="leave-last-out", trials=3, folds=2)

    held_out = pairs(split.test)
    assert len(handed) == 2 and len(fitted) == 3 * 2
    for fold in handed:
        # Every fold is carved out of the train part: its rows are train rows, none is test.
        assert pairs(fold.train) | pairs(fold.test) <= pairs(split.train)
        assert not (pairs(fold.train) | pairs(fold.test)) & held_out
    assert all(not pairs(train) & held_out for train in fitted)
    # Nested folds: fold 2 holds out the second-to-last train interaction of each user.
    assert pairs(handed[1].train) | pairs(handed[1].test) == pairs(handed[0].train)


def test_score_test_fits_on_the_whole_train_part_after_the_search(
    synth: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = make_split(synth, protocol="leave-last-out")
    fitted: list[Interactions] = []
    real_fit = fit_model

    def spy_fit(model_type: str, train: Interactions, **options: Any) -> Any:
        fitted.append(train)
        return real_fit(model_type, train, **options)

    monkeypatch.setattr(tuning_run, "fit_model", spy_fit)
    result = run_tuning(
        synth, model_type="item_knn", protocol="leave-last-out", trials=2, score_test=True
    )
    assert [len(t) for t in fitted[:2]] == [len(split.train) - len(validation(split).test)] * 2
    assert [pairs(t) for t in fitted[2:]] == [pairs(split.train)] * 2
    assert result.test is not None and result.test.best.n == len(split.test)


def validation(split: Split) -> Split:
    return validation_folds(split, folds=1)[0]


def test_a_configuration_the_data_cannot_take_is_a_failed_trial(synth: Interactions) -> None:
    split = make_split(synth, protocol="leave-last-out")
    # 500 SVD factors exceed the 200 movies: that trial fails, the other is chosen.
    result = tune(
        validation_folds(split),
        model_type="svd",
        trials=3,
        space={"factors": Choice((4, 500))},
    )
    failed = [t for t in result.trials if not t.ok]
    assert [t.sampled["factors"] for t in failed] == [500]
    assert "svd.factors must be at most" in (failed[0].error or "")
    assert result.best.sampled["factors"] in (4, 64)
    # 30 movies: the default 64 factors fail too, so nothing can be chosen.
    small = interactions_from_ratings(
        generate(users=100, items=30, interactions=600, seed=2).ratings
    )
    folds = validation_folds(make_split(small, protocol="leave-last-out"))
    result = tune(folds, model_type="svd", trials=2, space={"factors": Choice((500,))})
    assert not any(t.ok for t in result.trials)
    with pytest.raises(ValueError, match="every svd trial failed; the first: svd.factors"):
        _ = result.best


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model_type": "popularity"}, "popularity has no hyper-parameters to tune"),
        ({"model_type": "nope"}, "unknown model type 'nope'"),
        ({"metric": "novelty"}, "metric must be one of ndcg"),
        ({"trials": 0}, r"trials must be an integer in \[1, 10000\]"),
        ({"folds": 6}, r"folds must be an integer in \[1, 5\]"),
        ({"protocol": "kfold"}, "unknown protocol 'kfold'"),
    ],
)
def test_bad_options_are_named(synth: Interactions, options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "model_type": "ease",
        "protocol": "leave-last-out",
        "trials": 1,
        **options,
    }
    with pytest.raises(ValueError, match=message):
        run_tuning(synth, **arguments)


# -- recsys tune --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(generate(users=300, items=200, interactions=6000, seed=1), root / "synth")
    return root


def tune_cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    argv = ["tune", "--dataset", "synth", "--data-dir", str(data_dir), *args]
    result = CliRunner().invoke(app, argv)
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_the_trials_and_writes_json(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tuning" / "ease.json"
    code, stdout, stderr = tune_cli(
        data_dir, "-m", "ease", "-n", "3", "--seed", "1", "--score-test", "--out", str(out)
    )
    assert code == 0, stdout + stderr
    saved = json.loads(out.read_text())
    assert len(saved["trials"]) == 3 and saved["metric"] == "ndcg" and saved["k"] == 10
    assert saved["space"] == {"l2": {"log_uniform": [10.0, 5000.0], "integer": False}}
    assert saved["best"]["validation"] == max(t["value"] for t in saved["trials"])
    assert saved["test"]["best"]["n"] > 0 and saved["defaults"] == EASEParams().to_dict()
    assert saved["command"].startswith("recsys tune --model-type ease --trials 3")
    assert f"best: trial {saved['best']['number']}: l2=" in stdout
    assert "test NDCG@10: best" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-m", "random"), "random has no hyper-parameters to tune"),
        (("--metric", "novelty"), "--metric must be one of"),
        (("--protocol", "kfold"), "unknown protocol 'kfold'"),
        (("--artifact-uri", "file:///tmp/x"), "go with --train-final"),
        (("--dataset", "missing"), "missing"),
    ],
)
def test_cli_errors_are_one_line(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    code, stdout, stderr = tune_cli(data_dir, *args)
    assert code == 1
    assert message in stderr and "Traceback" not in stderr
