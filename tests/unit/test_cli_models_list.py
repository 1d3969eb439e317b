"""``recsys models list``: which version LATEST names, which load, and which a new pod serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli import app
from recsys.modeling.artifacts import LocalArtifactStore, save_model
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


def three_versions(store_dir: Path) -> list[str]:
    model = create_model("popularity", {}).fit(
        build_matrix(two_taste_groups(), weighting="confidence")
    )
    store = LocalArtifactStore(store_dir)
    return [save_model(store, model).version for _ in range(3)]


def flip_a_byte(store_dir: Path, version: str) -> None:
    npz = sorted((store_dir / "popularity" / version).glob("*.npz"))[0]
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))


def models_list(store_dir: Path, *more: str) -> tuple[int, str]:
    args = ["models", "list", "-m", "popularity", "--artifact-uri", f"file://{store_dir}", *more]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    return result.exit_code, result.output


def row(out: str, version: str) -> str:
    [line] = [line for line in out.splitlines() if version in line and "│" in line]
    return line


def test_latest_is_marked_and_a_damaged_manifest_does_not_hide_the_rest(store_dir: Path) -> None:
    v1, v2, v3 = three_versions(store_dir)
    manifest = store_dir / "popularity" / v2 / "manifest.json"
    manifest.write_text(manifest.read_text()[:30])
    code, out = models_list(store_dir)
    assert code == 0, out
    assert "LATEST" in row(out, v3) and "LATEST" not in row(out, v1)
    assert "manifest unreadable" in row(out, v2)
    assert "check" not in out and "serves" not in out  # nothing loaded without --check


def test_check_marks_what_a_starting_pod_serves_when_latest_does_not_load(
    store_dir: Path,
) -> None:
    v1, v2, v3 = three_versions(store_dir)
    flip_a_byte(store_dir, v3)
    flip_a_byte(store_dir, v2)
    code, out = models_list(store_dir, "--check")
    assert code == 0, out
    assert re.search(r"LATEST\s+│\s+refused: hash mismatch", row(out, v3))
    assert "refused: hash mismatch" in row(out, v2) and "serves" not in row(out, v2)
    assert re.search(r"serves\s+│\s+ok", row(out, v1))
    assert f"LATEST does not load: a starting pod serves {v1}" in out


def test_check_with_a_good_latest_marks_it_as_serving(store_dir: Path) -> None:
    *_, v3 = three_versions(store_dir)
    code, out = models_list(store_dir, "--check")
    assert code == 0, out
    assert re.search(r"LATEST, serves\s+│\s+ok", row(out, v3))
    assert "does not load" not in out


def test_latest_naming_a_version_that_is_not_stored_is_said(store_dir: Path) -> None:
    three_versions(store_dir)
    gone = "20200101T000000.000000Z-abcdef"
    (store_dir / "popularity" / "LATEST").write_text(gone + "\n")
    code, out = models_list(store_dir, "--check")
    assert code == 0, out
    assert f"LATEST names {gone}, which is not stored" in out
    assert "no version loads: a starting pod serves nothing" in out  # none is earlier than it


def test_no_latest_serves_nothing(store_dir: Path) -> None:
    versions = three_versions(store_dir)
    (store_dir / "popularity" / "LATEST").unlink()
    code, out = models_list(store_dir, "--check")
    assert code == 0, out
    assert "no LATEST: nothing is promoted, a starting pod serves nothing" in out
    for version in versions:
        assert re.search(r"│\s+│\s+ok", row(out, version))  # loads, but is neither mark
