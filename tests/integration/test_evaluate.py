"""``recsys evaluate`` end to end on a synthetic dataset written to disk, as a person runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.data.synth import generate
from recsys.data.writer import write_dataset as write_files
from recsys.modeling.registry import (
    MODEL_TYPES,
    missing_package,
    model_class,
    trainable_model_types,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_files(generate(users=300, items=200, interactions=6000, seed=1), root / "synth")
    return root


def evaluate(data_dir: Path, out: Path, *args: str) -> tuple[int, str, str]:
    argv = ["evaluate", "--dataset", "synth", "--data-dir", str(data_dir), "--out", str(out)]
    result = CliRunner().invoke(app, [*argv, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def every_model(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reports") / "synth-llo"
    code, stdout, stderr = evaluate(
        data_dir, out, "--protocol", "leave-last-out", "--models", "all", "-k", "10"
    )
    assert code == 0, stdout + stderr
    return {
        "out": out,
        "stdout": stdout,
        "stderr": stderr,
        "results": json.loads((out / "results.json").read_text()),
    }


def test_all_evaluates_every_registered_model(every_model: dict[str, Any]) -> None:
    results = every_model["results"]
    # Under CI torch is installed (tests/unit/test_sasrec.py checks it): every type. Locally
    # without it, sasrec is left out with a line saying what to install.
    assert set(results["models"]) == set(trainable_model_types())
    hint = missing_package("sasrec")
    if hint is None:
        assert set(results["models"]) == set(MODEL_TYPES)
    else:
        assert f"sasrec left out of 'all': {hint}" in " ".join(every_model["stderr"].split())
    assert results["protocol"] == "leave-last-out" and results["k"] == 10
    assert results["data_fingerprint"].startswith("sha256:")
    split = results["split"]
    # 300 users with >= 2 ratings each: one test row per user, minus test-only movies.
    assert split["test_rows_assigned"] == 300
    assert split["test"]["interactions"] == 300 - split["test_rows_dropped_unknown_movie"]
    assert split["train"]["interactions"] == 6000 - 300
    for model_type, entry in results["models"].items():
        assert entry["n_users"] == split["test"]["users"]
        assert (
            entry["params"]
            == model_class(model_type).params_type.from_dict(entry["params"]).to_dict()
        )
        assert 0.0 <= entry["metrics"]["ndcg"]["mean"] <= 1.0
        assert entry["fit_seconds"] >= 0 and entry["eval_seconds"] > 0
        assert len(entry["ndcg_curve"]["mean"]) == 50


def test_popularity_loses_to_a_personalised_model(every_model: dict[str, Any]) -> None:
    models = every_model["results"]["models"]
    knn = models["item_knn"]["vs_reference"]["ndcg"]
    assert knn["significant"] and knn["mean_diff"] > 0 and knn["better"] > knn["worse"]
    assert (
        models["item_knn"]["metrics"]["ndcg"]["low"]
        > models["popularity"]["metrics"]["ndcg"]["mean"]
    )
    winners = [
        m
        for m, entry in models.items()
        if model_class(m).personalised
        and entry["vs_reference"]
        and entry["vs_reference"]["ndcg"]["significant"]
        and entry["vs_reference"]["ndcg"]["mean_diff"] > 0
    ]
    assert "item_knn" in winners
    assert "popularity" not in winners and models["popularity"]["vs_reference"] == {}


def test_report_files_are_written_and_small(every_model: dict[str, Any]) -> None:
    out: Path = every_model["out"]
    report = (out / "report.md").read_text()
    assert "| model | HR@10 | Recall@10 | Precision@10 | NDCG@10 |" in report
    assert "## Paired comparison against popularity" in report
    assert "--protocol leave-last-out --models all -k 10" in report
    assert "--data-dir" in report and "Data: `sha256:" in report
    for name in ("metrics.png", "ndcg_at_k.png", "coverage_vs_ndcg.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) < 200_000
    assert (out / "report.md").stat().st_size < 200_000
    assert "significantly better NDCG@10 than popularity:" in every_model["stdout"]


def test_random_protocol_with_params_and_seed(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "synth-random"
    code, stdout, stderr = evaluate(
        data_dir, out, "--protocol", "random", "--models", "item_knn,als", "-k", "5",
        "--seed", "3", "-p", "als.factors=8", "-p", "item_knn.similarity=bm25", "--no-auc",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["item_knn", "als", "popularity"]
    assert results["split"]["params"] == {"test_fraction": 0.2, "seed": 3}
    assert results["models"]["als"]["params"]["factors"] == 8
    assert results["models"]["als"]["params"]["random_state"] == 3  # --seed reaches the model
    assert results["models"]["item_knn"]["params"]["similarity"] == "bm25"
    assert results["models"]["als"]["metrics"]["auc"]["mean"] is None
    assert "popularity was added as the reference" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--protocol", "kfold"), "unknown protocol 'kfold'; choose one of leave-last-out"),
        (("--models", "als,nope"), "unknown model type 'nope'"),
        (("--dataset", "ml-1m"), "recsys data fetch ml-1m"),
        (("-p", "als.factors=0"), "als.factors must be an integer in [1, 4096]"),
        (("-p", "factors=8"), "--param takes MODEL.KEY=VALUE"),
        (("--models", "als", "-p", "item_knn.k=5"), "which --models does not evaluate"),
        (("--reference", "nope"), "unknown model type 'nope'"),
    ],
)
def test_errors_are_one_red_line(
    data_dir: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, stdout, stderr = evaluate(data_dir, tmp_path / "out", *args)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in stdout + stderr
    assert not (tmp_path / "out").exists()
