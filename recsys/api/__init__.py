"""The async HTTP API: ``create_app(settings)`` builds it, ``recsys serve`` runs it."""

from recsys.api.app import create_app

__all__ = ["create_app"]
