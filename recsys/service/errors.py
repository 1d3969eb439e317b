"""The service's domain errors: what went wrong, in words; never an HTTP status.

``recsys.api.errors`` maps these types to statuses in one table; the CLI prints their message.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every domain error the service raises."""


class ConfigurationError(ServiceError, ValueError):
    """The settings name something the service cannot serve (e.g. an unknown model type)."""


class UnknownUserError(ServiceError):
    """The user id is not in the database."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} does not exist")


class UnknownExternalUserError(ServiceError):
    """No user has this external id (and it is not one of our integer ids either)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"user {key!r} does not exist")


class UnknownMovieError(ServiceError):
    """The movie id is not in the database."""

    def __init__(self, movie_id: int) -> None:
        self.movie_id = movie_id
        super().__init__(f"movie {movie_id} does not exist")


class UnknownModelError(ServiceError):
    """The requested model type is not one the service has loaded."""

    def __init__(self, model_type: str, loaded: list[str]) -> None:
        self.model_type = model_type
        self.loaded = loaded
        choices = ", ".join(loaded) or "none"
        super().__init__(f"model {model_type!r} is not loaded; loaded models: {choices}")


class UnsupportedModelError(ServiceError):
    """The model is loaded but cannot answer this kind of question (e.g. popularity: similar)."""

    def __init__(self, model_type: str, question: str, choices: list[str]) -> None:
        self.model_type = model_type
        self.choices = choices
        super().__init__(
            f"model {model_type!r} cannot rank {question}; "
            f"use one of: {', '.join(choices) or 'none is loaded'}"
        )


class ModelUnavailableError(ServiceError):
    """The model type is configured but could not be loaded (no artifact, or a corrupt one)."""

    def __init__(self, model_type: str, reason: str) -> None:
        self.model_type = model_type
        self.reason = reason
        super().__init__(f"model {model_type!r} is not loaded: {reason}")


class FallbackUnavailableError(ServiceError):
    """The model cannot score this user and no popularity model is loaded to fall back on."""

    def __init__(self, user_id: int, model_type: str) -> None:
        super().__init__(
            f"{model_type} has nothing to go on for user {user_id} (no history it knows) and "
            "the popularity fallback is not trained: run `make train-cli model_type=popularity`"
        )


class NoInteractionsError(ServiceError):
    """The database holds no ratings or events to train on (or to predict from)."""


class DatabaseUnavailableError(ServiceError):
    """The database cannot be reached right now (down, restarting, or no free connection)."""

    def __init__(self) -> None:
        super().__init__("database unavailable; retry shortly")


class ExternalIdConflictError(ServiceError):
    """Another movie already has this external id (409)."""


class InvalidMovieFileError(ServiceError, ValueError):
    """``import-movies``: the file is not valid; the message is ``FILE:LINE: field: message``."""
