"""Whether the service is ready: the database answers and every configured model is loaded.

The one definition of "ready" behind ``/readyz`` and SageMaker's ``/ping``; the routes render
the ``Readiness`` result into their own schemas.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import DatasetSeedRepository
from recsys.service.registry import ModelRegistry

# A readiness probe must answer even when the database hangs (k8s probes time out at 1 s,
# SageMaker gives /ping 2 s).
DATABASE_TIMEOUT_S = 0.8


@dataclass(frozen=True, slots=True)
class ModelReadiness:
    """One configured model type: the version serving, or why none is."""

    loaded: bool
    version: str | None = None
    # A newer LATEST that a hot reload refused (the loaded version keeps serving), and why.
    refused: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """``ready`` when ``reasons`` is empty; ``database`` is "ok" or what went wrong."""

    ready: bool
    database: str
    models: dict[str, ModelReadiness]
    reasons: list[str]


async def check_readiness(session: AsyncSession, registry: ModelRegistry) -> Readiness:
    """Whether the database answers and every configured model is loaded, and if not, why."""
    reasons: list[str] = []
    database = await _database_status(session)
    if database != "ok":
        reasons.append(f"database: {database}")
    models: dict[str, ModelReadiness] = {}
    for model_type in registry.configured:
        loaded = registry.loaded.get(model_type)
        if loaded is not None:
            refused = registry.refused.get(model_type)
            models[model_type] = ModelReadiness(
                loaded=True, version=loaded.version, refused=refused
            )
        else:
            error = registry.missing.get(model_type, "not loaded")
            models[model_type] = ModelReadiness(loaded=False, error=error)
            reasons.append(f"model {model_type}: {error}")
    return Readiness(ready=not reasons, database=database, models=models, reasons=reasons)


async def _database_status(session: AsyncSession) -> str:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            # A real table, not SELECT 1: a database that answers but was never migrated is
            # not ready either.
            await DatasetSeedRepository(session).latest()
    except TimeoutError:
        return f"no answer within {DATABASE_TIMEOUT_S} s"
    except Exception as exc:
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return f"unavailable: {first}"
    return "ok"
