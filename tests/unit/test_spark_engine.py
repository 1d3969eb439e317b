"""The Spark engine's parts that need no JVM: the parameter mapping, the checks of what is
installed, and the CLI's refusals (before any database or Spark is touched)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.modeling.als import ALSParams
from recsys.modeling.spark import SparkUnavailableError, map_params
from recsys.modeling.spark.session import check_java, session_conf
from recsys.settings import Settings


def test_the_mapping_matches_implicit_s_confidence_and_total_penalty() -> None:
    params = ALSParams(factors=48, regularization=0.1, alpha=0.5, iterations=12, random_state=3)
    mapped = map_params(params, n_users=900, n_items=1700, nnz=100_000)
    assert (mapped.rank, mapped.maxIter, mapped.seed) == (48, 12, 3)
    assert mapped.implicitPrefs and not mapped.nonnegative
    # Spark's c = 1 + alpha_s * r with alpha_s = 1 and r = alpha * w - 1: implicit's alpha * w.
    assert mapped.alpha == 1.0 and mapped.rating_scale == 0.5
    # lambda * (users + items) / (2 * nnz) = 0.1 * 2600 / 200000.
    assert mapped.regParam == pytest.approx(0.0013)
    assert set(mapped.als_kwargs()) >= {"rank", "maxIter", "regParam", "alpha", "seed"}
    assert "rating_scale" not in mapped.als_kwargs()


def test_an_empty_matrix_is_refused() -> None:
    with pytest.raises(ValueError, match="empty matrix"):
        map_params(ALSParams(), n_users=0, n_items=5, nnz=0)


def test_no_java_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SparkUnavailableError, match=r"no java on PATH: install a JDK or JRE 17"):
        check_java({"PATH": str(tmp_path)})
    with pytest.raises(SparkUnavailableError, match=r"no java on JAVA_HOME=/nonexistent"):
        check_java({"JAVA_HOME": "/nonexistent", "PATH": str(tmp_path)})


@pytest.mark.parametrize(
    ("banner", "major"), [('openjdk version "11.0.2"', 11), ('java version "1.8.0_392"', 8)]
)
def test_an_old_java_is_refused_with_its_version(tmp_path: Path, banner: str, major: int) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    java.chmod(0o755)
    with pytest.raises(SparkUnavailableError, match=rf"is Java {major}: install Java 17"):
        check_java({"JAVA_HOME": str(tmp_path)})


def test_the_installed_java_is_accepted_when_there_is_one() -> None:
    if not any(Path(p, "java").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("no java on PATH")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    assert check_java(env) >= 17


def test_session_conf_bounds_memory_and_lets_the_user_override() -> None:
    conf = session_conf("local[2]", {"spark.driver.memory": "6g", "spark.executor.cores": "4"})
    assert conf["spark.driver.memory"] == "6g" and conf["spark.executor.cores"] == "4"
    assert conf["spark.driver.host"] == "127.0.0.1" and conf["spark.ui.enabled"] == "false"
    cluster = session_conf("k8s://https://kubernetes.default.svc", {})
    assert "spark.driver.host" not in cluster and cluster["spark.driver.memory"] == "2g"


def test_spark_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_SPARK_MASTER", "spark://head:7077")
    monkeypatch.setenv("RECSYS_SPARK_CONF", '{"spark.executor.instances": "8"}')
    settings = Settings()
    assert settings.spark_master == "spark://head:7077"
    assert settings.spark_conf == {"spark.executor.instances": "8"}
    monkeypatch.setenv("RECSYS_SPARK_CONF", '{"driver.memory": "8g"}')
    with pytest.raises(ValueError, match="'driver.memory' is not a Spark setting"):
        Settings()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "flink"], "--engine: 'flink' is not one of implicit, spark"),
        (["-m", "item_knn", "--engine", "spark"], "spark fits als only, not 'item_knn'"),
        (["--spark-conf", "spark.driver.memory=4g"], "these go with --engine spark only"),
        (["--engine", "spark", "--spark-conf", "memory=4g"], "--spark-conf: takes spark.KEY=VALUE"),
    ],
)
def test_the_cli_refuses_a_bad_engine_option_with_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_without_pyspark_the_spark_path_says_what_to_install(tmp_path: Path) -> None:
    # A fresh interpreter where `import pyspark` fails, as in a default install.
    code = (
        "import sys; sys.modules['pyspark'] = None; sys.argv = ['recsys', 'train', "
        "'--engine', 'spark']; from recsys.cli import app; app()"
    )
    env = {**os.environ, "RECSYS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/none.db"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "--engine spark needs pyspark and pyarrow" in out
    assert "uv sync --frozen --inexact --group spark" in out and "Traceback" not in out
    assert not (tmp_path / "none.db").exists()  # refused before the database was opened
