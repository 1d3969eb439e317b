"""Save, load, list and prune model versions in an ``ArtifactStore``.

Layout: ``{model_type}/{version}/manifest.json`` + ``*.npz``, and ``{model_type}/LATEST``.
Files are written first, then the manifest (a version exists once its manifest does), then
LATEST, so a reader never sees half a version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy.typing as npt

from recsys.modeling import npz
from recsys.modeling.artifacts.manifest import (
    LATEST_NAME,
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    is_version,
    library_versions,
    new_version,
)
from recsys.modeling.artifacts.stores import ArtifactStore
from recsys.modeling.base import Recommender
from recsys.modeling.errors import (
    ArtifactCorruptError,
    ArtifactIncompatibleError,
    ArtifactNotFoundError,
    ModelStateError,
    ObjectNotFoundError,
)
from recsys.modeling.registry import MODEL_TYPES, model_class

# Keys save_model writes itself; extra_manifest may add only metrics and training info.
_EXTRA_KEYS = frozenset({"metrics", "training"})


@dataclass(frozen=True)
class ArtifactInfo:
    """Where a saved version lives and what its manifest says."""

    model_type: str
    version: str
    uri: str
    manifest: Manifest


def save_model(
    store: ArtifactStore,
    model: Recommender[Any],
    *,
    extra_manifest: Mapping[str, Any] | None = None,
    set_latest: bool = True,
    now: datetime | None = None,
) -> ArtifactInfo:
    """Write a fitted model as a new version (files, manifest, then LATEST)."""
    extra = dict(extra_manifest or {})
    unknown = sorted(set(extra) - _EXTRA_KEYS)
    if unknown:
        raise ValueError(
            f"extra_manifest keys {', '.join(unknown)} are not allowed; "
            f"use {', '.join(sorted(_EXTRA_KEYS))}"
        )
    for key, value in extra.items():
        if not isinstance(value, dict):
            raise ValueError(f"extra_manifest[{key!r}] must be a dict, got {type(value).__name__}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra_manifest[{key!r}] is not JSON-serialisable: {exc}") from exc

    model_type = model.model_type
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    version = new_version(moment)
    folder = f"{model_type}/{version}"
    files: dict[str, FileEntry] = {}
    for name, arrays in sorted(model.to_state().items()):
        data = npz.dumps(arrays)
        filename = f"{name}.npz"
        store.put_bytes(f"{folder}/{filename}", data)
        files[filename] = FileEntry.of(data)
    manifest = Manifest(
        model_type=model_type,
        version=version,
        created_at=moment.isoformat(),
        params=model.params.to_dict(),
        data=dict(model.data_info),
        files=files,
        libraries=library_versions(),
        metrics=extra.get("metrics", {}),
        training=extra.get("training", {}),
    )
    store.put_bytes(f"{folder}/{MANIFEST_NAME}", manifest.to_json())
    if set_latest:
        store.put_bytes(f"{model_type}/{LATEST_NAME}", (version + "\n").encode())
    return ArtifactInfo(model_type, version, store.url_for(folder), manifest)


def load_model(
    store: ArtifactStore, model_type: str, version: str | None = None
) -> tuple[Recommender[Any], Manifest]:
    """Load ``version`` (default: LATEST), verifying the format and every file's sha256."""
    cls = _model_class(store, model_type)
    if version is not None:
        manifest = read_manifest(store, model_type, version)
    else:
        version = read_latest(store, model_type)
        try:
            manifest = read_manifest(store, model_type, version)
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(
                f"{store.url_for(f'{model_type}/{LATEST_NAME}')} names version {version}, "
                f"which is gone: {exc}",
                reason=f"LATEST names version {version}, which is missing",
            ) from None
    where = store.url_for(f"{model_type}/{version}")
    if manifest.model_type != model_type:
        raise ArtifactIncompatibleError(
            f"{where}/{MANIFEST_NAME}: holds a {manifest.model_type!r} model, not {model_type!r}",
            reason="holds another model type",
        )
    state: dict[str, dict[str, npt.NDArray[Any]]] = {}
    for filename, entry in sorted(manifest.files.items()):
        data = _verified_bytes(store, f"{model_type}/{version}/{filename}", entry)
        if not filename.endswith(".npz"):
            continue
        try:
            state[filename.removesuffix(".npz")] = npz.loads(data)
        except ValueError as exc:
            raise ArtifactCorruptError(
                f"{where}/{filename}: {exc}", reason="unreadable array file"
            ) from exc
    try:
        model = cls.from_state(manifest.params, manifest.data, state)
    except ModelStateError as exc:
        raise ArtifactCorruptError(f"{where}: {exc}", reason="arrays do not match") from exc
    except (TypeError, ValueError) as exc:
        raise ArtifactIncompatibleError(
            f"{where}: parameters not accepted: {exc}", reason="parameters not accepted"
        ) from exc
    return model, manifest


def read_manifest(store: ArtifactStore, model_type: str, version: str) -> Manifest:
    """Parsed manifest of one version; ``ArtifactNotFoundError`` if there is none."""
    key = f"{_checked_version(store, model_type, version)}/{MANIFEST_NAME}"
    try:
        raw = store.get_bytes(key)
    except ObjectNotFoundError:
        raise ArtifactNotFoundError(
            f"{model_type} version {version!r} not found: {store.url_for(key)} does not exist"
            f"{_train_hint(model_type)}",
            reason="version missing",
        ) from None
    return Manifest.from_json(raw, where=store.url_for(key))


def read_latest(store: ArtifactStore, model_type: str) -> str:
    """The version LATEST names; ``ArtifactNotFoundError`` if nothing was trained yet."""
    key = f"{model_type}/{LATEST_NAME}"
    try:
        version = store.get_bytes(key).decode("utf-8", errors="replace").strip()
    except ObjectNotFoundError:
        raise ArtifactNotFoundError(
            f"no trained {model_type!r} model in {store.uri} ({store.url_for(key)} is missing)"
            f"{_train_hint(model_type)}",
            reason=f"no trained {model_type!r} model{_train_hint(model_type)}",
        ) from None
    if not is_version(version):
        raise ArtifactCorruptError(
            f"{store.url_for(key)}: {version!r} is not a version id",
            reason="LATEST holds no version id",
        )
    return version


def set_latest(store: ArtifactStore, model_type: str, version: str) -> None:
    """Point LATEST at an existing version (e.g. to roll back)."""
    read_manifest(store, model_type, version)
    store.put_bytes(f"{model_type}/{LATEST_NAME}", (version + "\n").encode())


def list_versions(store: ArtifactStore, model_type: str) -> list[str]:
    """Complete versions (those with a manifest) of ``model_type``, oldest first."""
    found = set()
    for key in store.list(f"{model_type}/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == MANIFEST_NAME and is_version(parts[1]):
            found.add(parts[1])
    return sorted(found)


def prune(store: ArtifactStore, model_type: str, *, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest versions, never the one LATEST names; returns deleted."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
    versions = list_versions(store, model_type)
    try:
        latest: str | None = read_latest(store, model_type)
    except ArtifactNotFoundError:
        latest = None
    doomed = [v for v in versions[:-keep] if v != latest]
    for version in doomed:
        keys = store.list(f"{model_type}/{version}/")
        # Manifest first: a half-deleted version must not look complete.
        keys.sort(key=lambda k: not k.endswith(f"/{MANIFEST_NAME}"))
        for key in keys:
            store.delete(key)
    return doomed


def _verified_bytes(store: ArtifactStore, key: str, entry: FileEntry) -> bytes:
    url = store.url_for(key)
    try:
        data = store.get_bytes(key)
    except ObjectNotFoundError:
        raise ArtifactCorruptError(
            f"{url}: file listed in the manifest is missing", reason="file missing"
        ) from None
    if len(data) != entry.size:
        raise ArtifactCorruptError(
            f"{url}: size {len(data)} bytes, manifest says {entry.size} (truncated or replaced)",
            reason="size mismatch",
        )
    actual = FileEntry.of(data).sha256
    if actual != entry.sha256:
        raise ArtifactCorruptError(
            f"{url}: sha256 {actual} does not match the manifest's {entry.sha256}",
            reason="hash mismatch",
        )
    return data


def _model_class(store: ArtifactStore, model_type: str) -> type[Recommender[Any]]:
    if model_type not in MODEL_TYPES:
        raise ArtifactIncompatibleError(
            f"unknown model type {model_type!r} (store {store.uri}); "
            f"known: {', '.join(sorted(MODEL_TYPES))}",
            reason="unknown model type",
        )
    return model_class(model_type)


def _checked_version(store: ArtifactStore, model_type: str, version: str) -> str:
    if not is_version(version):
        raise ArtifactNotFoundError(
            f"{version!r} is not a version id of {model_type} in {store.uri} "
            "(expected e.g. 20261123T121314.123456Z-1a2b3c)",
            reason="not a version id",
        )
    return f"{model_type}/{version}"


def _train_hint(model_type: str) -> str:
    return f"; train one with: make train-cli model_type={model_type}"
