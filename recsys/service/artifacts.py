"""The artifact store as the CLI uses it: open one, list and promote versions, load to predict."""

from __future__ import annotations

from recsys.modeling.artifacts import (
    ArtifactCorruptError,
    ArtifactError,
    ArtifactNotFoundError,
    ArtifactStore,
    list_versions,
    load_model,
    open_store,
    read_latest,
    read_manifest,
    set_latest,
)
from recsys.service.fallback import FALLBACK_MODEL
from recsys.service.registry import LoadedModel, fallback_order

__all__ = [
    "ArtifactCorruptError",
    "ArtifactError",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "check_version",
    "fallback_order",
    "latest_or_none",
    "list_versions",
    "load_for_prediction",
    "open_store",
    "promote",
    "read_manifest",
]


def check_version(store: ArtifactStore, model_type: str, version: str) -> str | None:
    """None when ``version`` loads intact (every sha256 checked), else why not in a few words."""
    try:
        load_model(store, model_type, version)
    except ArtifactError as exc:
        return exc.reason
    return None


def latest_or_none(store: ArtifactStore, model_type: str) -> str | None:
    """The version LATEST names, or None when there is no LATEST yet."""
    try:
        return read_latest(store, model_type)
    except ArtifactNotFoundError:
        return None


def promote(store: ArtifactStore, model_type: str, version: str) -> str | None:
    """Point LATEST at ``version`` once it loads intact; returns what LATEST named before."""
    previous = latest_or_none(store, model_type)
    # A full load verifies every file's sha256: never point LATEST at a broken version.
    load_model(store, model_type, version)
    set_latest(store, model_type, version)
    return previous


def load_for_prediction(
    store: ArtifactStore, model_type: str, version: str | None
) -> dict[str, LoadedModel]:
    """``model_type`` at ``version`` (default LATEST), plus the popularity fallback if stored.

    Raises ``ArtifactError``; the fallback is optional (only users the model cannot score need
    it, and the service says so), but a corrupt one is an error.
    """
    model, manifest = load_model(store, model_type, version)
    models = {model_type: LoadedModel(model, manifest.version)}
    if model_type != FALLBACK_MODEL:
        try:
            fallback, fallback_manifest = load_model(store, FALLBACK_MODEL)
        except ArtifactNotFoundError:
            return models
        except ArtifactError as exc:
            raise ArtifactError(
                f"the popularity fallback cannot be loaded: {exc}", reason=exc.reason
            ) from exc
        models[FALLBACK_MODEL] = LoadedModel(fallback, fallback_manifest.version)
    return models
