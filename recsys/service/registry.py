"""The models that serve: the LATEST version of each configured type (see reload.py).

When the version LATEST names does not load (a hash mismatch, a corrupt or incompatible file, a
version that is gone), start-up serves the newest *earlier* stored version that does load and
records the refusal, so a bad promotion or a refused hot reload never leaves a pod that cannot
start. Only earlier versions are candidates: a version newer than LATEST is one an operator
rolled back from (``recsys models promote`` an older one), never one to bring back unasked.

What the registry records for answers (``missing`` reasons, ``Refusal.reason``) is product
words with no path, bucket or URI; the log gets the full message, once, when it happens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from recsys.modeling.artifacts import (
    ArtifactCorruptError,
    ArtifactError,
    ArtifactStore,
    list_versions,
    load_model,
    open_store,
    read_latest,
)
from recsys.modeling.base import Recommender
from recsys.service.metrics import observe_model_load

logger = logging.getLogger(__name__)

# What an answer says when the store itself fails (network, credentials); the log says more.
STORE_UNOPENABLE = "artifact store cannot be opened"
STORE_FAILED = "artifact store unavailable"


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model plus the artifact version it was loaded from."""

    model: Recommender[Any]
    version: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """The version LATEST names, which does not load, and why in product words."""

    version: str | None  # None: LATEST itself holds no version id (``reason`` says so)
    reason: str

    def __str__(self) -> str:
        return self.reason if self.version is None else f"{self.version}: {self.reason}"


@dataclass(frozen=True)
class ModelRegistry:
    """What serves: each configured model type's version, or why it is missing."""

    configured: tuple[str, ...]
    loaded: Mapping[str, LoadedModel]
    missing: Mapping[str, str]
    # Loaded types whose LATEST does not load (refused at start-up or by a hot reload): an
    # earlier version serves instead.
    refused: Mapping[str, Refusal] = field(default_factory=lambda: MappingProxyType({}))

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


@dataclass(frozen=True, slots=True)
class Choice:
    """What start-up serves for one type: LATEST, or an earlier version and why LATEST is not."""

    model: LoadedModel
    refusal: Refusal | None = None


class NothingLoadsError(ArtifactError):
    """LATEST does not load and no earlier stored version does either."""


def open_registry(uri: str, model_types: Sequence[str]) -> ModelRegistry:
    """Open the store at ``uri`` and load every type; a store that cannot open loads nothing."""
    try:
        store = open_store(uri)
    except ValueError:
        raise  # a malformed URI is a configuration error: fail at startup
    except Exception:  # e.g. no cloud credentials: live, not ready, and say why
        logger.exception("artifact store %s cannot be opened", uri)
        return ModelRegistry(
            configured=tuple(model_types),
            loaded=MappingProxyType({}),
            missing=MappingProxyType(dict.fromkeys(model_types, STORE_UNOPENABLE)),
        )
    return load_registry(store, model_types)


def load_registry(store: ArtifactStore, model_types: Sequence[str]) -> ModelRegistry:
    """Load every type (LATEST, else the newest earlier version that loads); never raises."""
    loaded: dict[str, LoadedModel] = {}
    missing: dict[str, str] = {}
    refused: dict[str, Refusal] = {}
    for model_type in model_types:
        try:
            choice = choose_version(store, model_type)
        except ArtifactError as exc:
            # A store without this model (or with nothing that loads) must not crash-loop the
            # pod: the app stays live, /readyz says what is missing, requests for it get
            # ModelUnavailableError.
            logger.error("model %s not loaded: %s", model_type, exc)
            missing[model_type] = exc.reason
            continue
        except Exception:  # the store itself failing (network, credentials)
            logger.exception("model %s not loaded: artifact store %s failed", model_type, store.uri)
            missing[model_type] = STORE_FAILED
            continue
        loaded[model_type] = choice.model
        if choice.refusal is not None:
            refused[model_type] = choice.refusal
        model = choice.model.model
        logger.info(
            "loaded %s %s (%d users x %d movies)",
            model_type,
            choice.model.version,
            model.n_users,
            model.n_items,
        )
    return ModelRegistry(
        configured=tuple(model_types),
        loaded=MappingProxyType(loaded),
        missing=MappingProxyType(missing),
        refused=MappingProxyType(refused),
    )


def choose_version(store: ArtifactStore, model_type: str) -> Choice:
    """LATEST of ``model_type``, or when it does not load the newest earlier version that does.

    Raises ``ArtifactNotFoundError`` when nothing was trained (no LATEST), ``NothingLoadsError``
    when LATEST and every earlier version are refused, and the store's own errors (network).
    Every refused version is logged with its full message; the ``Refusal`` holds product words.
    """
    latest: str | None
    first: ArtifactError
    try:
        latest = read_latest(store, model_type)
    except ArtifactCorruptError as exc:  # LATEST holds no version id: every version is earlier
        latest, first = None, exc
    else:
        try:
            return Choice(_load(store, model_type, latest))
        except ArtifactError as exc:  # corrupt, incompatible or gone: the same every time
            first = exc
    logger.error("%s: LATEST %s does not load: %s", model_type, latest or "(unreadable)", first)
    return fall_back(store, model_type, latest, first)


def fall_back(
    store: ArtifactStore, model_type: str, latest: str | None, first: ArtifactError
) -> Choice:
    """The newest stored version before ``latest`` that loads, since ``latest`` did not.

    ``first`` is why ``latest`` was refused; ``NothingLoadsError`` when no earlier one loads.
    """
    refusal = Refusal(latest, first.reason)
    for version in _earlier_versions(store, model_type, latest):
        try:
            model = _load(store, model_type, version)
        except Exception as exc:  # this one is refused too (or the store failed): try older
            logger.error(
                "%s: earlier version %s does not load either: %s", model_type, version, exc
            )
            continue
        logger.error(
            "%s: serving %s, the newest earlier version that loads, instead of LATEST %s (%s)",
            model_type,
            version,
            latest or "(unreadable)",
            first.reason,
        )
        return Choice(model, refusal)
    raise NothingLoadsError(
        f"{model_type}: LATEST {latest or '(unreadable)'} does not load ({first}) and no "
        "earlier stored version does",
        reason=f"{refusal}; no {'earlier ' if latest is not None else ''}version loads",
    ) from first


def _load(store: ArtifactStore, model_type: str, version: str) -> LoadedModel:
    started = time.perf_counter()
    model, manifest = load_model(store, model_type, version)  # every file's sha256 checked
    observe_model_load(model_type, time.perf_counter() - started)
    return LoadedModel(model, manifest.version)


def fallback_order(versions: Sequence[str], latest: str | None) -> list[str]:
    """The versions start-up tries, in order, when ``latest`` does not load: the earlier ones,
    newest first (all of them when LATEST holds no version id)."""
    # Version ids sort by creation time.
    return sorted((v for v in versions if latest is None or v < latest), reverse=True)


def _earlier_versions(store: ArtifactStore, model_type: str, latest: str | None) -> list[str]:
    try:
        versions = list_versions(store, model_type)
    except Exception:
        logger.exception("%s: stored versions cannot be listed: no fallback", model_type)
        return []
    return fallback_order(versions, latest)
