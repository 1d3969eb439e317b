"""The models that serve: the LATEST version of each configured type (see reload.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from recsys.modeling.artifacts import ArtifactError, ArtifactStore, load_model, open_store
from recsys.modeling.base import Recommender
from recsys.service.metrics import observe_model_load

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model plus the artifact version it was loaded from."""

    model: Recommender[Any]
    version: str


@dataclass(frozen=True)
class ModelRegistry:
    """What serves: each configured model type's version, or why it is missing."""

    configured: tuple[str, ...]
    loaded: Mapping[str, LoadedModel]
    missing: Mapping[str, str]
    # Loaded types whose newer LATEST a hot reload refused (corrupt or incompatible), and why:
    # the loaded version keeps serving.
    refused: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, models: Mapping[str, LoadedModel]) -> ModelRegistry:
        """A registry serving exactly ``models`` (none missing), e.g. what a CLI command loaded."""
        return cls(
            configured=tuple(models),
            loaded=MappingProxyType(dict(models)),
            missing=MappingProxyType({}),
        )

    @property
    def complete(self) -> bool:
        """True when every configured model type is loaded."""
        return not self.missing


def open_registry(uri: str, model_types: Sequence[str]) -> ModelRegistry:
    """Open the store at ``uri`` and load every type; a store that cannot open loads nothing."""
    try:
        store = open_store(uri)
    except ValueError:
        raise  # a malformed URI is a configuration error: fail at startup
    except Exception as exc:  # e.g. no cloud credentials: live, not ready, and say why
        logger.exception("artifact store %s cannot be opened", uri)
        reason = f"artifact store {uri} cannot be opened: {exc}"
        return ModelRegistry(
            configured=tuple(model_types),
            loaded=MappingProxyType({}),
            missing=MappingProxyType(dict.fromkeys(model_types, reason)),
        )
    return load_registry(store, model_types)


def load_registry(store: ArtifactStore, model_types: Sequence[str]) -> ModelRegistry:
    """Load LATEST of every type; a type that fails is recorded as missing, never raised."""
    loaded: dict[str, LoadedModel] = {}
    missing: dict[str, str] = {}
    for model_type in model_types:
        try:
            started = time.perf_counter()
            model, manifest = load_model(store, model_type)
        except ArtifactError as exc:
            # A store without this model (or with a corrupt one) must not crash-loop the pod:
            # the app stays live, /readyz says what is missing, requests for it get
            # ModelUnavailableError.
            logger.error("model %s not loaded: %s", model_type, exc)
            missing[model_type] = str(exc)
            continue
        except Exception as exc:  # the store itself failing (network, credentials)
            logger.exception("model %s not loaded: artifact store %s failed", model_type, store.uri)
            missing[model_type] = f"artifact store {store.uri} failed: {exc}"
            continue
        observe_model_load(model_type, time.perf_counter() - started)
        loaded[model_type] = LoadedModel(model, manifest.version)
        logger.info(
            "loaded %s %s (%d users x %d movies)",
            model_type,
            manifest.version,
            model.n_users,
            model.n_items,
        )
    return ModelRegistry(
        configured=tuple(model_types),
        loaded=MappingProxyType(loaded),
        missing=MappingProxyType(missing),
    )
