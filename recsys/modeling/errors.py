"""Errors raised by the modeling layer (no imports, so every module can raise them)."""

from __future__ import annotations


class ModelError(Exception):
    """Base class of modeling errors."""


class NotFittedError(ModelError):
    """A model was asked to score before ``fit`` or ``load``."""


class ModelStateError(ModelError, ValueError):
    """Saved model state is missing an array or has the wrong shape or dtype."""


class MissingDependencyError(ModelError, ValueError):
    """An optional package a model type needs (torch for sasrec) is not installed.

    A ``ValueError`` so that every command that reports bad input in one line (train,
    evaluate, tune) prints its message, which says what to install.
    """


class ArtifactError(Exception):
    """Base class of artifact store errors: the message names the store, model type and file.

    ``reason`` says what is wrong in a few product words ("hash mismatch", "version missing")
    with no path, bucket or URI: what an HTTP answer may show, while the message goes to logs.
    """

    default_reason = "artifact unreadable"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason


class ArtifactNotFoundError(ArtifactError):
    """No trained version of a model type (or the requested version) is in the store."""

    default_reason = "artifact missing"


class ArtifactCorruptError(ArtifactError):
    """A stored file is missing, truncated, fails its sha256 check or cannot be parsed."""

    default_reason = "artifact corrupt"


class ArtifactIncompatibleError(ArtifactError):
    """A stored artifact was written in a format or for a model this code does not read."""

    default_reason = "artifact incompatible"


class ObjectNotFoundError(ArtifactError):
    """A store has no object under the requested key."""

    def __init__(self, key: str, *, store: str) -> None:
        self.key = key
        self.store = store
        super().__init__(f"{store}: no object {key!r}", reason="file missing")
