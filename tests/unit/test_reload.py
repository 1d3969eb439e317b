"""LiveModels: what a reload swaps, refuses, remembers and leaves alone (tiny local models)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, read_latest, save_model
from recsys.modeling.base import History
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service.registry import open_registry
from recsys.service.reload import LiveModels, ReloadStatus, poll_latest

GROUP_A_USER = 1
WEIGHTS = EventWeights({"watch": 1.0})


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    """ALS and popularity on the two-taste-groups data, one version each."""
    matrix = build_matrix(two_taste_groups(), weighting="confidence")
    store = LocalArtifactStore(tmp_path / "artifacts")
    for model_type, params in (("als", {"factors": 2, "iterations": 8}), ("popularity", {})):
        save_model(store, create_model(model_type, params).fit(matrix))
    return store


def live_on(store: LocalArtifactStore) -> LiveModels:
    registry = open_registry(store.uri, ("als", "popularity"))
    return LiveModels(registry, artifact_uri=store.uri, weights=WEIGHTS)


def new_als_version(store: LocalArtifactStore) -> str:
    model = live_on(store).current.registry.loaded["als"].model
    return save_model(store, model).version


def corrupt(store: LocalArtifactStore, version: str) -> None:
    npz = Path(store.url_for(f"als/{version}/factors.npz").removeprefix("file://"))
    data = bytearray(npz.read_bytes())
    data[-10] ^= 0xFF
    npz.write_bytes(bytes(data))


async def test_requests_holding_the_old_serving_keep_it_after_the_swap(
    store: LocalArtifactStore,
) -> None:
    live = live_on(store)
    in_flight = live.current  # what a request read before the reload
    v1 = in_flight.registry.loaded["als"].version
    v2 = new_als_version(store)
    report = await live.reload()
    assert report.changed and not report.refused
    assert [(o.model_type, o.status) for o in report.outcomes] == [
        ("als", ReloadStatus.LOADED),
        ("popularity", ReloadStatus.UNCHANGED),
    ]
    assert live.current.registry.loaded["als"].version == v2
    assert live.current.service.get("als").version == v2
    # The old snapshot is untouched and still answers.
    assert in_flight.registry.loaded["als"].version == v1
    history = History.of([100, 103], [5, 5])
    ids, _ = in_flight.service.get("als").model.recommend(GROUP_A_USER, history=history, k=2)
    assert len(ids) == 2
    # Popularity was not reloaded: the very same object serves on.
    assert live.current.registry.loaded["popularity"] is in_flight.registry.loaded["popularity"]


async def test_the_poll_does_not_reload_a_refused_version_again_but_an_admin_does(
    store: LocalArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    live = live_on(store)
    v1 = live.current.registry.loaded["als"].version
    bad = new_als_version(store)
    corrupt(store, bad)
    with caplog.at_level(logging.ERROR, logger="recsys.service.reload"):
        first = await live.reload(retry_refused=False)
        again = await live.reload(retry_refused=False)
        admin = await live.reload()
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused als")]
    # Loaded and refused twice (first poll, admin); the second poll skipped the same bytes.
    assert len(refusals) == 2
    for report in (first, again, admin):
        [als, popularity] = report.outcomes
        assert als.status is ReloadStatus.REFUSED and als.version == v1 and als.latest == bad
        # Product words in the report; the path and the hashes only in the log.
        assert als.error == f"{bad}: hash mismatch"
        assert popularity.status is ReloadStatus.UNCHANGED
    assert all("sha256" in r.getMessage() and "file://" in r.getMessage() for r in refusals)
    assert str(live.current.registry.refused["als"]) == f"{bad}: hash mismatch"
    assert live.current.registry.loaded["als"].version == v1


async def test_pointing_latest_back_at_what_serves_clears_the_refusal(
    store: LocalArtifactStore,
) -> None:
    live = live_on(store)
    v1 = live.current.registry.loaded["als"].version
    bad = new_als_version(store)
    corrupt(store, bad)
    await live.reload()
    assert "als" in live.current.registry.refused
    store.put_bytes("als/LATEST", f"{v1}\n".encode())  # a rollback
    report = await live.reload()
    assert report.outcomes[0].status is ReloadStatus.UNCHANGED
    assert dict(live.current.registry.refused) == {}


async def test_a_missing_latest_fails_and_the_loaded_version_keeps_serving(
    store: LocalArtifactStore,
) -> None:
    live = live_on(store)
    v1 = live.current.registry.loaded["als"].version
    store.delete("als/LATEST")
    report = await live.reload(retry_refused=False)
    als = report.outcomes[0]
    assert als.status is ReloadStatus.FAILED and als.version == als.previous == v1
    assert als.error is not None and "no trained 'als' model" in als.error
    assert report.refused and not report.changed
    assert live.current.registry.loaded["als"].version == v1
    assert dict(live.current.registry.refused) == {}  # nothing wrong with what LATEST named


async def test_an_unopenable_store_fails_every_type(tmp_path: Path) -> None:
    registry = open_registry(f"file://{tmp_path}/empty", ("als",))
    live = LiveModels(
        registry, artifact_uri="gs://", weights=WEIGHTS
    )  # no bucket: cannot be opened
    [als] = (await live.reload()).outcomes
    assert als.status is ReloadStatus.FAILED and als.version is None
    assert als.error is not None and "cannot be opened" in als.error
    assert "cannot be opened" in live.current.registry.missing["als"]


async def test_the_warm_callback_sees_the_new_registry_before_the_swap(
    store: LocalArtifactStore,
) -> None:
    warmed: list[tuple[str, str]] = []

    async def warm(registry: object) -> None:
        new = registry.loaded["als"].version  # type: ignore[attr-defined]
        warmed.append((new, live.current.registry.loaded["als"].version))

    live = LiveModels(
        open_registry(store.uri, ("als", "popularity")),
        artifact_uri=store.uri,
        weights=WEIGHTS,
        warm=warm,
    )
    v1 = read_latest(store, "als")
    v2 = new_als_version(store)
    await live.reload()
    assert warmed == [(v2, v1)]  # warmed with v2 while v1 still served
    await live.reload()  # nothing new: nothing to warm
    assert len(warmed) == 1


async def test_poll_off_starts_nothing(store: LocalArtifactStore) -> None:
    live = live_on(store)
    v1 = live.current.registry.loaded["als"].version
    new_als_version(store)
    async with poll_latest(live, every=0):
        pass
    assert live.current.registry.loaded["als"].version == v1
