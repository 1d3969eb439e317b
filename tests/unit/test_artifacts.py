"""Artifact stores (local dir and a real GCS client against gcp-storage-emulator) and versions."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.cloud import storage

from recsys.modeling.artifacts import (
    FORMAT_VERSION,
    ArtifactCorruptError,
    ArtifactIncompatibleError,
    ArtifactNotFoundError,
    ArtifactStore,
    GCSArtifactStore,
    LocalArtifactStore,
    ObjectNotFoundError,
    list_versions,
    load_model,
    new_version,
    open_store,
    prune,
    read_latest,
    save_model,
    set_latest,
)
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.registry import (
    MODEL_TYPES,
    create_model,
    model_class,
    trainable_model_types,
)
from recsys.modeling.toy import two_taste_groups, two_taste_items

# Created by the session-wide gcs_client fixture (tests/conftest.py).
BUCKET = "recsys-test"
# -- stores -----------------------------------------------------------------------------------


@pytest.fixture(params=["local", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    client = request.getfixturevalue("gcs_client")
    # A fresh prefix per test keeps tests independent in the one shared bucket.
    return GCSArtifactStore(BUCKET, f"t-{uuid.uuid4().hex[:12]}/models", client=client)


class TestStoreContract:
    def test_round_trips_any_bytes_and_overwrites(self, store: ArtifactStore) -> None:
        data = bytes(range(256)) * 3
        store.put_bytes("als/v1/factors.npz", data)
        assert store.get_bytes("als/v1/factors.npz") == data
        store.put_bytes("als/v1/factors.npz", b"new")
        assert store.get_bytes("als/v1/factors.npz") == b"new"

    def test_missing_object_raises_naming_key_and_store(self, store: ArtifactStore) -> None:
        with pytest.raises(ObjectNotFoundError, match="als/LATEST") as info:
            store.get_bytes("als/LATEST")
        assert store.uri in str(info.value)
        assert not store.exists("als/LATEST")

    def test_lists_recursively_sorted_within_the_prefix(self, store: ArtifactStore) -> None:
        for key in ("als/b/manifest.json", "als/a/x.npz", "als/LATEST", "alsx/a", "knn/a"):
            store.put_bytes(key, b"1")
        assert store.list("als/") == ["als/LATEST", "als/a/x.npz", "als/b/manifest.json"]
        assert store.list() == [
            "als/LATEST",
            "als/a/x.npz",
            "als/b/manifest.json",
            "alsx/a",
            "knn/a",
        ]
        assert store.list("none/") == []
        assert store.exists("als/a/x.npz")

    def test_delete_is_idempotent(self, store: ArtifactStore) -> None:
        store.put_bytes("als/a/x.npz", b"1")
        store.delete("als/a/x.npz")
        store.delete("als/a/x.npz")
        assert not store.exists("als/a/x.npz")
        assert store.list() == []

    @pytest.mark.parametrize("key", ["", "/abs", "../up", "a//b", "a/./b", "a b", "a/"])
    def test_rejects_unsafe_keys(self, store: ArtifactStore, key: str) -> None:
        with pytest.raises(ValueError, match="invalid artifact key"):
            store.put_bytes(key, b"1")

    def test_url_for_is_under_the_store_uri(self, store: ArtifactStore) -> None:
        assert store.url_for("als/LATEST") == store.uri + "/als/LATEST"
        assert isinstance(store, ArtifactStore)


def test_open_store_gs_uses_the_emulator_from_the_environment(
    gcs_client: storage.Client,
) -> None:
    # No client passed: storage.Client() reads STORAGE_EMULATOR_HOST, as in a deployment.
    store = open_store(f"gs://{BUCKET}/from-env/models")
    store.put_bytes("als/LATEST", b"v1")
    assert gcs_client.bucket(BUCKET).blob("from-env/models/als/LATEST").download_as_bytes() == (
        b"v1"
    )


def test_local_store_writes_atomically_and_tidies_folders(tmp_path: Path) -> None:
    local = LocalArtifactStore(tmp_path)
    local.put_bytes("als/v/a.npz", b"x" * 1000)
    assert sorted(p.name for p in (tmp_path / "als" / "v").iterdir()) == ["a.npz"]  # no temp
    local.delete("als/v/a.npz")
    assert list(tmp_path.iterdir()) == []  # empty folders go with their last file


def test_open_store_understands_file_paths_and_gs_uris(tmp_path: Path) -> None:
    local = open_store(tmp_path.as_uri())
    assert isinstance(local, LocalArtifactStore) and local.root == tmp_path.resolve()
    relative = open_store("some/relative/dir")
    assert isinstance(relative, LocalArtifactStore)
    assert relative.root == (Path.cwd() / "some/relative/dir").resolve()
    gcs = open_store("gs://bucket-1/models/prod", client=storage.Client.create_anonymous_client())
    assert isinstance(gcs, GCSArtifactStore) and gcs.uri == "gs://bucket-1/models/prod"
    for bad, message in [
        ("s3://bucket/x", "unsupported artifact URI scheme 's3'"),
        ("file://host/x", "use file:///absolute/path"),
        ("gs:///x", "names no bucket"),
    ]:
        with pytest.raises(ValueError, match=message):
            open_store(bad)


# -- versions ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix() -> InteractionMatrix:
    return build_matrix(
        two_taste_groups(), weighting="bm25", bm25_k1=1.2, bm25_b=0.75, items=two_taste_items()
    )


@pytest.fixture(scope="module")
def models(matrix: InteractionMatrix) -> dict[str, Recommender[Any]]:
    return {
        name: create_model(name, dict(model_class(name).example_params)).fit(matrix)
        for name in trainable_model_types()  # sasrec's tests skip without torch (conftest)
    }


def scores_of(model: Recommender[Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    users = np.array([1, 13, 999])
    histories = [History.of([100, 103]), History.of([200], [4.0]), History.of([101, 104])]
    return model.recommend_batch(users, histories=histories, k=8)


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_save_then_load_gives_identical_scores_and_a_full_manifest(
    store: ArtifactStore, models: dict[str, Recommender[Any]], model_type: str
) -> None:
    model = models[model_type]
    info = save_model(store, model, extra_manifest={"metrics": {"ndcg@10": 0.25}})
    assert info.uri == store.url_for(f"{model_type}/{info.version}")
    assert read_latest(store, model_type) == info.version
    loaded, manifest = load_model(store, model_type)
    assert type(loaded) is type(model)
    for before, after in zip(scores_of(model), scores_of(loaded), strict=True):
        np.testing.assert_array_equal(before, after)

    doc = json.loads(store.get_bytes(f"{model_type}/{info.version}/manifest.json"))
    assert doc["format_version"] == FORMAT_VERSION and doc["model_type"] == model_type
    assert doc["params"] == model.params.to_dict() == manifest.params
    assert doc["data"]["fingerprint"] == model.data_info["fingerprint"]
    assert doc["vocab"] == {"n_users": 18, "n_items": 16}
    assert doc["metrics"] == {"ndcg@10": 0.25}
    assert set(doc["libraries"]) >= {"recsys", "implicit", "numpy", "scipy"}
    created = datetime.fromisoformat(doc["created_at"])
    assert created.tzinfo is not None and abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    stored = {k.rsplit("/", 1)[1] for k in store.list(f"{model_type}/{info.version}/")}
    assert stored == set(doc["files"]) | {"manifest.json"}
    for name, entry in doc["files"].items():
        assert len(store.get_bytes(f"{model_type}/{info.version}/{name}")) == entry["bytes"]


def test_nothing_trained_names_type_store_and_command(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError) as info:
        load_model(store, "item_knn")
    message = str(info.value)
    assert "item_knn" in message and store.uri in message
    assert "make train-cli model_type=item_knn" in message


class TestRefusesDamagedArtifacts:
    @pytest.fixture
    def saved(self, store: ArtifactStore, models: dict[str, Recommender[Any]]) -> str:
        return save_model(store, models["als"]).version

    def test_flipped_byte(self, store: ArtifactStore, saved: str) -> None:
        key = f"als/{saved}/factors.npz"
        data = bytearray(store.get_bytes(key))
        data[len(data) // 2] ^= 0x01
        store.put_bytes(key, bytes(data))
        with pytest.raises(ArtifactCorruptError, match=r"factors\.npz: sha256 .* does not match"):
            load_model(store, "als")

    def test_truncated_file(self, store: ArtifactStore, saved: str) -> None:
        key = f"als/{saved}/vocab.npz"
        store.put_bytes(key, store.get_bytes(key)[:-10])
        with pytest.raises(ArtifactCorruptError, match=r"vocab\.npz: size .*truncated"):
            load_model(store, "als", saved)

    def test_missing_file(self, store: ArtifactStore, saved: str) -> None:
        store.delete(f"als/{saved}/weighting.npz")
        with pytest.raises(ArtifactCorruptError, match=r"weighting\.npz: file listed .* missing"):
            load_model(store, "als")

    def test_other_format_version(self, store: ArtifactStore, saved: str) -> None:
        key = f"als/{saved}/manifest.json"
        doc = json.loads(store.get_bytes(key))
        doc["format_version"] = FORMAT_VERSION + 1
        store.put_bytes(key, json.dumps(doc).encode())
        with pytest.raises(ArtifactIncompatibleError, match=r"format_version 2 is not supported"):
            load_model(store, "als")

    def test_unparsable_manifest(self, store: ArtifactStore, saved: str) -> None:
        store.put_bytes(f"als/{saved}/manifest.json", b'{"format_version": 1, "files"')
        with pytest.raises(ArtifactCorruptError, match=r"manifest\.json: not valid JSON"):
            load_model(store, "als")

    def test_latest_names_a_missing_version(self, store: ArtifactStore, saved: str) -> None:
        for key in store.list(f"als/{saved}/"):
            store.delete(key)
        with pytest.raises(ArtifactNotFoundError, match=rf"LATEST names version {saved}"):
            load_model(store, "als")

    def test_pickled_array_with_matching_hash(self, store: ArtifactStore, saved: str) -> None:
        # Even a file whose hash was "fixed up" must not be unpickled.
        buffer = io.BytesIO()
        np.savez(buffer, user_factors=np.array([{"evil": 1}], dtype=object), item_factors=[1])
        self._replace_with_valid_hash(store, saved, "factors.npz", buffer.getvalue())
        with pytest.raises(ArtifactCorruptError, match=r"factors\.npz: not a readable \.npz"):
            load_model(store, "als")

    def test_wrong_shapes_with_matching_hash(self, store: ArtifactStore, saved: str) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, user_factors=np.zeros((3, 2), np.float32), item_factors=np.zeros(2))
        self._replace_with_valid_hash(store, saved, "factors.npz", buffer.getvalue())
        with pytest.raises(ArtifactCorruptError, match=r"factors\.npz: user_factors \(3, 2\)"):
            load_model(store, "als")

    @staticmethod
    def _replace_with_valid_hash(
        store: ArtifactStore, version: str, name: str, data: bytes
    ) -> None:
        import hashlib

        store.put_bytes(f"als/{version}/{name}", data)
        key = f"als/{version}/manifest.json"
        doc = json.loads(store.get_bytes(key))
        doc["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        store.put_bytes(key, json.dumps(doc).encode())


def test_prune_keeps_the_newest_and_latest(
    store: ArtifactStore, models: dict[str, Recommender[Any]]
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    versions = [
        save_model(store, models["popularity"], now=start + timedelta(hours=h)).version
        for h in range(5)
    ]
    assert list_versions(store, "popularity") == versions  # time order
    set_latest(store, "popularity", versions[1])
    store.put_bytes("popularity/" + new_version() + "/counts.npz", b"half-written")

    deleted = prune(store, "popularity", keep=2)

    assert deleted == [versions[0], versions[2]]
    assert list_versions(store, "popularity") == [versions[1], versions[3], versions[4]]
    assert not store.list(f"popularity/{versions[0]}/")
    assert load_model(store, "popularity")[1].version == versions[1]
    with pytest.raises(ValueError, match="keep must be an integer >= 1"):
        prune(store, "popularity", keep=0)


def test_version_ids_sort_by_time() -> None:
    t = datetime(2026, 11, 23, 12, 13, 14, 5, tzinfo=UTC)
    earlier, later = new_version(t), new_version(t + timedelta(microseconds=1))
    assert earlier.startswith("20261123T121314.000005Z-") and earlier < later


def test_extra_manifest_accepts_only_metrics_and_training(
    tmp_path: Path, models: dict[str, Recommender[Any]]
) -> None:
    local = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="extra_manifest keys params are not allowed"):
        save_model(local, models["popularity"], extra_manifest={"params": {}})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        save_model(local, models["popularity"], extra_manifest={"metrics": {"x": object()}})
    assert local.list() == []
