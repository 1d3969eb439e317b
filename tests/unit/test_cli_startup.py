"""``recsys --help`` imports only the CLI: the models, pandas and the database come with commands.

Each check runs a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Packages that cost seconds to import on a small machine (implicit, scipy, pandas, lightgbm,
# the GCS client) or that only the commands touching a database or serving need.
# pydantic itself is absent on purpose: typer imports it to parse a command's options.
HEAVY = {
    "aiosqlite",
    "alembic",
    "asyncpg",
    "fastapi",
    "google",
    "implicit",
    "lightgbm",
    "matplotlib",
    "numpy",
    "pandas",
    "pydantic_settings",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "uvicorn",
}

# Runs the CLI with ARGV (after importing it) and prints every imported module as JSON.
_PROBE = """
import json, sys
from recsys.cli import app
try:
    app(sys.argv[1:], prog_name="recsys")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*argv: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="import-only"),
        pytest.param(["--help"], id="recsys--help"),
        pytest.param(["data", "--help"], id="data--help"),
        pytest.param(["tune", "--help"], id="tune--help"),
        pytest.param(["trian"], id="typo"),
        # A mistyped model type is refused before any model, pandas or database import.
        pytest.param(["train", "-m", "alss"], id="train-model-typo"),
        pytest.param(["predict", "1", "-m", "alss"], id="predict-model-typo"),
    ],
)
def test_help_imports_no_heavy_package_and_no_recsys_module_outside_the_cli(
    argv: list[str],
) -> None:
    modules = _modules_after(*argv)
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
    # Beyond the CLI, only the light name lists its help shows (recsys.service.choices and the
    # modules it reads); settings, data, models and the database are the commands' business.
    light = {
        "recsys.service",
        "recsys.service.choices",
        "recsys.evaluation",
        "recsys.evaluation.choices",
        "recsys.modeling",
        "recsys.modeling.engines",
        "recsys.modeling.registry",
        "recsys.modeling.weighting",
    }
    outside = [
        m
        for m in modules
        if m.startswith("recsys.") and not m.startswith("recsys.cli") and m not in light
    ]
    assert outside == []
    assert "recsys.cli.data" in modules  # the probe did build the CLI


def test_a_command_still_imports_what_it_uses() -> None:
    # `data info` on a missing folder fails after loading the dataset reader (pandas).
    modules = _modules_after("data", "info", "no-such-dataset", "--data-dir", "/nonexistent")
    assert "pandas" in modules and "recsys.data.loader" in modules
