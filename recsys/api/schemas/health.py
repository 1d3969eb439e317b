"""Bodies of ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from recsys.api.schemas.common import Out


class HealthOut(Out):
    """Liveness: the process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = "ok"


class ModelStatusOut(Out):
    """One configured model type: its loaded version, or why it is not loaded."""

    loaded: bool
    version: str | None = None
    error: str | None = None
    refused: str | None = Field(
        default=None,
        description="A newer LATEST that a hot reload refused, and why (the loaded one serves).",
    )


class ReadinessOut(Out):
    """Readiness: the database answers and every configured model is loaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": False,
                    "database": "ok",
                    "models": {
                        "als": {"loaded": True, "version": "20261123T121314.123456Z-1a2b3c"},
                        "item_knn": {
                            "loaded": False,
                            "error": "no trained 'item_knn' model in file:///srv/artifacts",
                        },
                    },
                    "reasons": ["model item_knn: no trained 'item_knn' model in ..."],
                }
            ]
        }
    )

    ready: bool
    database: str = Field(description="`ok`, or what went wrong reaching it.")
    models: dict[str, ModelStatusOut]
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")
    history_cache: str = Field(
        default="off",
        description="Users' histories in memory: `warm` (all loaded), `warming`, `lazy` (as "
        "users arrive), `not listening` (database notifications lost: every request queries "
        "until they are back) or `off` (SQLite, or RECSYS_HISTORY_CACHE=off). Not part of "
        "`ready`: without the cache requests read the database.",
    )
