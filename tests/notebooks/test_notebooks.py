"""The notebooks run end to end on ML-100K, are stored without outputs and hold no logic.

Executing them needs ``data/ml-100k`` (``make data``): without it the run is skipped, except
under CI (``CI`` set), where a missing dataset is a failure.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = ("01_eda.ipynb", "02_models.ipynb")
DATA_DIR = REPO_ROOT / "data"
# Per notebook; both together run in ~30 s on two busy cores.
TIMEOUT_SECONDS = 120


def _read(name: str) -> nbformat.NotebookNode:
    # nbformat.read has no annotations (nbformat ships no stubs for it): mypy sees it untyped.
    notebook: nbformat.NotebookNode = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_without_outputs(name: str) -> None:
    for cell in _code_cells(_read(name)):
        assert cell.outputs == [], f"{name}: a cell holds outputs; clear them before committing"
        assert cell.execution_count is None, f"{name}: a cell holds an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_logic_of_their_own(name: str) -> None:
    # Functions and classes belong in recsys, where they are tested and reused.
    for cell in _code_cells(_read(name)):
        tree = ast.parse(cell.source)
        defined = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        assert not defined, f"{name} defines {defined}: move them into recsys"


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_on_ml_100k(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (DATA_DIR / "ml-100k").is_dir():
        message = f"{DATA_DIR / 'ml-100k'} is missing: run `make data` to fetch ML-100K"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # The kernel inherits the environment: point it at this checkout's data, and leave
    # matplotlib to ipykernel's inline backend (an MPLBACKEND from the shell would hide plots).
    monkeypatch.setenv("RECSYS_DATA_DIR", str(DATA_DIR))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = _read(name)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    errors = [
        output
        for cell in _code_cells(notebook)
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    # Every code cell ran and the last one produced something to look at.
    assert all(cell.execution_count is not None for cell in _code_cells(notebook))
    assert _code_cells(notebook)[-1].outputs
    print(f"{name}: executed in {seconds:.1f} s")
