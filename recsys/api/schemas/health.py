"""Bodies of ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from recsys.api.schemas.common import Out

_NO_ITEM_KNN = "no trained 'item_knn' model; train one with: make train-cli model_type=item_knn"


class HealthOut(Out):
    """Liveness: the process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = "ok"


class ModelStatusOut(Out):
    """One configured model type: its loaded version, or why it is not loaded."""

    loaded: bool
    version: str | None = Field(default=None, description="The version serving.")
    error: str | None = Field(
        default=None,
        description="Why nothing serves, e.g. `no trained 'als' model; ...` or `VERSION: hash "
        "mismatch; no earlier version loads`.",
    )
    refused: str | None = Field(
        default=None,
        description="`VERSION: why`: LATEST names VERSION, which does not load (hash mismatch, "
        "size mismatch, file missing, version missing, manifest unreadable, arrays do not "
        "match, ...), or `LATEST holds no version id`; refused at start-up or by a hot reload. "
        "`version` (an earlier one that loads) serves instead, and the service stays ready.",
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
                        "als": {
                            "loaded": True,
                            "version": "20261123T121314.123456Z-1a2b3c",
                            "refused": "20261124T080000.000000Z-4d5e6f: hash mismatch",
                        },
                        "item_knn": {"loaded": False, "error": _NO_ITEM_KNN},
                    },
                    "reasons": [f"model item_knn: {_NO_ITEM_KNN}"],
                    "warnings": [
                        "model als: serving 20261123T121314.123456Z-1a2b3c, not LATEST "
                        "20261124T080000.000000Z-4d5e6f (hash mismatch)"
                    ],
                    "history_cache": "warm",
                }
            ]
        }
    )

    ready: bool
    database: str = Field(
        description="`ok`, or what is wrong: `unreachable`, `not answering within 0.8 s`, `not "
        "migrated (run: recsys db upgrade)` or `query failed (see the log)`."
    )
    models: dict[str, ModelStatusOut]
    reasons: list[str] = Field(description="Why the service is not ready (empty when ready).")
    warnings: list[str] = Field(
        default_factory=list,
        description="Ready, but look: a model type serves an earlier version because its LATEST "
        "does not load (see its `refused`).",
    )
    history_cache: str = Field(
        default="off",
        description="Users' histories in memory: `warm` (all loaded), `warming`, `lazy` (as "
        "users arrive), `not listening` (database notifications lost: every request queries "
        "until they are back) or `off` (SQLite, or RECSYS_HISTORY_CACHE=off). Not part of "
        "`ready`: without the cache requests read the database.",
    )
