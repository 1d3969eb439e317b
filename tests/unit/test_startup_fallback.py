"""Start-up when LATEST does not load: the newest earlier version that loads serves, and says so.

Tiny ALS models in a local store; versions are damaged on disk the way a bad upload or a bad
promotion would leave them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, Manifest, save_model
from recsys.modeling.base import Recommender
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service.registry import Refusal, open_registry
from recsys.service.reload import LiveModels, ReloadStatus

WEIGHTS = EventWeights({"watch": 1.0})


@pytest.fixture(scope="module")
def als() -> Recommender[Any]:
    matrix = build_matrix(two_taste_groups(), weighting="confidence")
    model: Recommender[Any] = create_model("als", {"factors": 2, "iterations": 4}).fit(matrix)
    return model


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "a-known-folder" / "artifacts"


def save(store: LocalArtifactStore, model: Recommender[Any]) -> str:
    return save_model(store, model).version


def flip_a_byte(root: Path, version: str) -> None:
    npz = root / "als" / version / "factors.npz"
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF  # same size, one byte changed: only the sha256 tells
    npz.write_bytes(bytes(data))


def point_latest(root: Path, text: str) -> None:
    (root / "als" / "LATEST").write_text(text + "\n")


def refusals_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "LATEST" in r.getMessage()]


def test_a_corrupt_latest_falls_back_to_the_version_before_it(
    root: Path, als: Recommender[Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalArtifactStore(root)
    good = save(store, als)
    bad = save(store, als)
    flip_a_byte(root, bad)
    with caplog.at_level(logging.INFO, logger="recsys.service.registry"):
        registry = open_registry(store.uri, ("als",))
    assert registry.loaded["als"].version == good
    assert registry.refused["als"] == Refusal(bad, "hash mismatch")
    assert dict(registry.missing) == {}
    assert registry.complete  # it serves: ready
    # The log has the detail (path, hashes), each fact once.
    [refused, serving] = refusals_logged(caplog)
    assert bad in refused and "sha256" in refused and str(root) in refused
    assert good in serving and "hash mismatch" in serving


def test_latest_naming_a_version_that_is_gone_falls_back(root: Path, als: Recommender[Any]) -> None:
    store = LocalArtifactStore(root)
    good = save(store, als)
    gone = save(store, als)
    for path in (root / "als" / gone).iterdir():
        path.unlink()
    (root / "als" / gone).rmdir()
    registry = open_registry(store.uri, ("als",))
    assert registry.loaded["als"].version == good
    assert str(registry.refused["als"]) == f"{gone}: version missing"


def test_an_unreadable_latest_falls_back_to_the_newest_version(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    save(store, als)
    newest = save(store, als)
    point_latest(root, "garbage")
    registry = open_registry(store.uri, ("als",))
    assert registry.loaded["als"].version == newest
    assert str(registry.refused["als"]) == "LATEST holds no version id"


def test_the_fallback_skips_earlier_versions_that_do_not_load_either(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    oldest = save(store, als)
    middle = save(store, als)
    latest = save(store, als)
    flip_a_byte(root, latest)
    manifest = root / "als" / middle / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])  # cut short
    registry = open_registry(store.uri, ("als",))
    assert registry.loaded["als"].version == oldest
    assert registry.refused["als"] == Refusal(latest, "hash mismatch")


def test_a_version_newer_than_latest_is_never_brought_back(
    root: Path, als: Recommender[Any]
) -> None:
    # v3 was rolled back from (LATEST -> v2); v2 then breaks: v1 serves, not v3.
    store = LocalArtifactStore(root)
    v1 = save(store, als)
    v2 = save(store, als)
    save(store, als)
    point_latest(root, v2)
    flip_a_byte(root, v2)
    registry = open_registry(store.uri, ("als",))
    assert registry.loaded["als"].version == v1


def test_nothing_loads_is_missing_in_product_words(root: Path, als: Recommender[Any]) -> None:
    store = LocalArtifactStore(root)
    only = save(store, als)
    flip_a_byte(root, only)
    registry = open_registry(store.uri, ("als", "popularity"))
    assert dict(registry.loaded) == {}
    assert registry.missing["als"] == f"{only}: hash mismatch; no earlier version loads"
    assert registry.missing["popularity"] == (
        "no trained 'popularity' model; train one with: make train-cli model_type=popularity"
    )
    for reason in registry.missing.values():
        assert str(root) not in reason and "file://" not in reason


def test_incompatible_and_wrong_shapes_have_their_own_words(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    save(store, als)
    bad = save(store, als)
    path = root / "als" / bad / "manifest.json"
    manifest = Manifest.from_json(path.read_bytes(), where="test")
    doc = path.read_text().replace('"format_version": 1', '"format_version": 99')
    path.write_text(doc)
    assert manifest.version == bad
    assert str(open_registry(store.uri, ("als",)).refused["als"]) == (
        f"{bad}: format version not supported"
    )
    path.write_text(doc.replace('"format_version": 99', '"format_version": 1'))
    path.write_text(path.read_text().replace('"factors": 2', '"factors": 3'))
    assert str(open_registry(store.uri, ("als",)).refused["als"]) == f"{bad}: arrays do not match"


async def test_the_poll_does_not_retry_what_start_up_refused_but_an_admin_reload_does(
    root: Path, als: Recommender[Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalArtifactStore(root)
    good = save(store, als)
    bad = save(store, als)
    flip_a_byte(root, bad)
    live = LiveModels(open_registry(store.uri, ("als",)), artifact_uri=store.uri, weights=WEIGHTS)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="recsys.service"):
        [poll] = (await live.reload(retry_refused=False)).outcomes
        assert not caplog.records  # start-up logged it already
        [admin] = (await live.reload()).outcomes
    for outcome in (poll, admin):
        assert outcome.status is ReloadStatus.REFUSED
        assert (outcome.version, outcome.latest) == (good, bad)
        assert outcome.error == f"{bad}: hash mismatch"
    assert len(caplog.records) == 1  # the admin's retry
    fixed = save(store, als)
    [loaded] = (await live.reload(retry_refused=False)).outcomes
    assert loaded.status is ReloadStatus.LOADED and loaded.version == fixed
    assert dict(live.current.registry.refused) == {}


async def test_a_reload_of_a_type_that_serves_nothing_falls_back_too(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    live = LiveModels(open_registry(store.uri, ("als",)), artifact_uri=store.uri, weights=WEIGHTS)
    assert "als" in live.current.registry.missing  # nothing trained at start-up
    good = save(store, als)
    bad = save(store, als)
    flip_a_byte(root, bad)
    [outcome] = (await live.reload()).outcomes
    assert outcome.status is ReloadStatus.LOADED
    assert (outcome.version, outcome.previous, outcome.latest) == (good, None, bad)
    assert outcome.error == f"{bad}: hash mismatch"
    registry = live.current.registry
    assert registry.loaded["als"].version == good and dict(registry.missing) == {}
    assert registry.refused["als"] == Refusal(bad, "hash mismatch")
    assert live.current.service.get("als").version == good
    # The poll then leaves the refused LATEST alone.
    [again] = (await live.reload(retry_refused=False)).outcomes
    assert again.status is ReloadStatus.REFUSED and again.version == good


async def test_a_reload_with_nothing_that_loads_keeps_the_reason(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    live = LiveModels(open_registry(store.uri, ("als",)), artifact_uri=store.uri, weights=WEIGHTS)
    only = save(store, als)
    flip_a_byte(root, only)
    expected = f"{only}: hash mismatch; no earlier version loads"
    for retry in (True, False):
        [outcome] = (await live.reload(retry_refused=retry)).outcomes
        assert outcome.status is ReloadStatus.REFUSED and outcome.version is None
        assert outcome.error == expected
        assert live.current.registry.missing["als"] == expected


async def test_a_store_failing_mid_read_is_shown_but_tried_again_by_the_next_poll(
    root: Path, als: Recommender[Any]
) -> None:
    store = LocalArtifactStore(root)
    good = save(store, als)
    live = LiveModels(open_registry(store.uri, ("als",)), artifact_uri=store.uri, weights=WEIGHTS)
    new = save(store, als)
    npz = root / "als" / new / "factors.npz"
    data = npz.read_bytes()
    npz.unlink()
    npz.symlink_to(npz)  # a loop: reading it fails with an OSError (the store, not the version)
    [failed] = (await live.reload(retry_refused=False)).outcomes
    assert failed.status is ReloadStatus.REFUSED and failed.version == good
    assert failed.error == f"{new}: artifact store unavailable"
    assert str(live.current.registry.refused["als"]) == f"{new}: artifact store unavailable"
    npz.unlink()
    npz.write_bytes(data)
    [loaded] = (await live.reload(retry_refused=False)).outcomes  # not remembered: tried again
    assert loaded.status is ReloadStatus.LOADED and loaded.version == new
    assert dict(live.current.registry.refused) == {}
