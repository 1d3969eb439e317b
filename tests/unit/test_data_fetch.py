"""Fetching: local zips, folders and wheels, pinned hashes, atomic installs, the offline fallback.

Downloads are tested against a real HTTP server on 127.0.0.1 serving test-made archives; the
fallback against a closed local port (a real connection failure).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from recsys.data import DatasetError, load_dataset
from recsys.data import registry as registry_module
from recsys.data.fetch import WHEEL_ENV, FetchError, fetch_dataset, sha256_of
from recsys.data.registry import RECBOLE_ML100K_MEMBERS, RECBOLE_WHEEL, REGISTRY, RemoteDataset
from tests.support.datasets import data_root

MakeZip = Callable[..., Path]


def hidden_leftovers(folder: Path) -> list[str]:
    """Staging folders or partial downloads left behind (there must be none)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def fake_wheel(tmp_path: Path, recbole_dir: Path) -> Path:
    """A wheel-shaped zip holding the fixture's RecBole files where RecBole keeps ML-100K."""
    wheel = tmp_path / "wheels" / RECBOLE_WHEEL
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zipped:
        zipped.writestr("recbole/__init__.py", "")
        for member in RECBOLE_ML100K_MEMBERS:
            zipped.write(recbole_dir / Path(member).name, member)
    return wheel


@pytest.fixture
def http_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local HTTP server standing in for GroupLens; files put in the yielded folder are served."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(
        registry_module, "GROUPLENS_BASE", f"http://127.0.0.1:{server.server_port}/"
    )
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()


def pin(monkeypatch: pytest.MonkeyPatch, name: str, archive: Path) -> None:
    """Pin ``name`` to ``archive``'s real hash, as the registry pins GroupLens' zips."""
    entry = RemoteDataset(name, sha256_of(archive), archive.stat().st_size, None, "test")
    monkeypatch.setitem(REGISTRY, name, entry)


def test_local_zip_with_a_top_level_folder(
    tmp_path: Path, csv_dir: Path, make_zip: MakeZip
) -> None:
    archive = make_zip(csv_dir, name="mini.zip", prefix="mini/")
    data_dir = tmp_path / "data"
    result = fetch_dataset("mini", data_dir=data_dir, source=archive)
    assert result.source == "local-zip" and result.path == data_dir / "mini"
    assert (data_dir / "mini" / "ratings.csv").is_file()  # the zip's folder was flattened
    assert len(load_dataset(data_dir / "mini").ratings) == 4
    assert hidden_leftovers(data_dir) == []


def test_local_zip_of_a_known_dataset_is_verified(
    tmp_path: Path, ml100k_dir: Path, make_zip: MakeZip
) -> None:
    archive = make_zip(ml100k_dir, name="ml-100k.zip", prefix="ml-100k/")
    data_dir = tmp_path / "data"
    with pytest.raises(FetchError, match="does not match the pinned 50d2a982"):
        fetch_dataset("ml-100k", data_dir=data_dir, source=archive)
    assert not (data_dir / "ml-100k").exists()
    result = fetch_dataset("ml-100k", data_dir=data_dir, source=archive, verify=False)
    assert len(load_dataset(result.path).ratings) == 4


def test_local_folder_is_copied(tmp_path: Path, ml1m_dir: Path) -> None:
    result = fetch_dataset("ml-1m", data_dir=tmp_path / "data", source=ml1m_dir)
    assert result.source == "local-dir"
    assert len(load_dataset(result.path).ratings) == 4
    assert (ml1m_dir / "ratings.dat").is_file()  # the source is left alone


def test_zip_without_a_dataset_installs_nothing(tmp_path: Path, make_zip: MakeZip) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "README.txt").write_text("not a dataset")
    archive = make_zip(junk, name="junk.zip")
    data_dir = tmp_path / "data"
    with pytest.raises(DatasetError, match="no dataset inside"):
        fetch_dataset("junk", data_dir=data_dir, source=archive)
    assert list(data_dir.iterdir()) == []


def test_present_is_a_no_op_and_force_replaces(tmp_path: Path, csv_dir: Path) -> None:
    data_dir = tmp_path / "data"
    fetch_dataset("mini", data_dir=data_dir, source=csv_dir)
    again = fetch_dataset("mini", data_dir=data_dir, source=csv_dir)
    assert again.source == "present" and "already" in again.message and "--force" in again.message
    (data_dir / "mini" / "stale.txt").write_text("from the old copy")
    forced = fetch_dataset("mini", data_dir=data_dir, source=csv_dir, force=True)
    assert forced.source == "local-dir"
    assert not (data_dir / "mini" / "stale.txt").exists()
    assert hidden_leftovers(data_dir) == []


def test_fake_recbole_wheel_needs_the_pinned_hash(tmp_path: Path, fake_wheel: Path) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(FetchError, match="does not match the pinned 9c994820"):
        fetch_dataset("ml-100k", data_dir=data_dir, source=fake_wheel)
    result = fetch_dataset("ml-100k", data_dir=data_dir, source=fake_wheel, verify=False)
    assert sorted(p.name for p in result.path.iterdir()) == [
        "ml-100k.inter",
        "ml-100k.item",
        "ml-100k.user",
    ]
    assert len(load_dataset(result.path).ratings) == 4


def test_wheel_for_another_dataset_is_refused(tmp_path: Path, fake_wheel: Path) -> None:
    with pytest.raises(FetchError, match="holds ml-100k only, not ml-1m"):
        fetch_dataset("ml-1m", data_dir=tmp_path, source=fake_wheel)


def test_real_recbole_wheel(tmp_path: Path) -> None:
    # `make test-data` keeps the wheel beside the dataset it extracts ML-100K from; the
    # offline fetch's own download is a temporary file.
    wheel = Path(os.environ.get(WHEEL_ENV) or data_root() / RECBOLE_WHEEL)
    if not wheel.is_file():
        message = f"{wheel} not found: run `make test-data`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    result = fetch_dataset("ml-100k", data_dir=tmp_path, source=wheel)
    dataset = load_dataset(result.path)
    assert (len(dataset.ratings), len(dataset.users), len(dataset.movies)) == (100_000, 943, 1_682)


def test_download_verifies_and_extracts(
    tmp_path: Path,
    http_root: Path,
    ml1m_dir: Path,
    make_zip: MakeZip,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = make_zip(ml1m_dir, name="ml-1m.zip", prefix="ml-1m/")
    (http_root / "ml-1m.zip").write_bytes(archive.read_bytes())
    pin(monkeypatch, "ml-1m", archive)
    data_dir = tmp_path / "data"
    result = fetch_dataset("ml-1m", data_dir=data_dir, console=Console(file=io.StringIO()))
    assert result.source == "grouplens"
    assert len(load_dataset(result.path).ratings) == 4
    assert hidden_leftovers(data_dir) == []


def test_download_with_a_wrong_hash_installs_nothing(
    tmp_path: Path,
    http_root: Path,
    ml1m_dir: Path,
    make_zip: MakeZip,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = make_zip(ml1m_dir, name="ml-1m.zip", prefix="ml-1m/")
    pin(monkeypatch, "ml-1m", archive)
    (http_root / "ml-1m.zip").write_bytes(archive.read_bytes() + b"tampered")
    data_dir = tmp_path / "data"
    with pytest.raises(FetchError, match="does not match the pinned"):
        fetch_dataset("ml-1m", data_dir=data_dir, console=Console(file=io.StringIO()))
    assert list(data_dir.iterdir()) == []


def test_unreachable_grouplens_falls_back_to_the_wheel_for_ml100k(
    tmp_path: Path, fake_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "GROUPLENS_BASE", "http://127.0.0.1:9/")
    monkeypatch.setenv("RECSYS_RECBOLE_WHEEL", str(fake_wheel))
    out = io.StringIO()
    result = fetch_dataset(
        "ml-100k", data_dir=tmp_path, verify=False, timeout=2, console=Console(file=out)
    )
    assert result.source == "recbole-wheel"
    assert "GroupLens unreachable" in out.getvalue() and "fell back" in out.getvalue()
    assert len(load_dataset(result.path).ratings) == 4


def test_unreachable_grouplens_for_other_datasets_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "GROUPLENS_BASE", "http://127.0.0.1:9/")
    with pytest.raises(FetchError, match=r"cannot download .*--from path/to/ml-25m.zip"):
        fetch_dataset("ml-25m", data_dir=tmp_path, timeout=2, console=Console(file=io.StringIO()))


def test_offline_has_no_source_but_for_ml100k(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="ml-20m has no offline source"):
        fetch_dataset("ml-20m", data_dir=tmp_path, offline=True)


def test_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="unknown dataset 'ml-7k': known are ml-100k, ml-1m"):
        fetch_dataset("ml-7k", data_dir=tmp_path)


def test_registry_pins_every_dataset() -> None:
    assert set(REGISTRY) == {"ml-100k", "ml-1m", "ml-latest-small", "ml-20m", "ml-25m", "ml-32m"}
    for entry in REGISTRY.values():
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        assert entry.url.endswith(f"/{entry.name}.zip")


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_of(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
