"""``/healthz`` (the process answers) and ``/readyz`` (database and every model are there)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.api.deps import RegistryDep, SessionDep
from recsys.api.schemas import HealthOut, ModelStatusOut, ReadinessOut
from recsys.db.repositories import DatasetSeedRepository
from recsys.service.registry import ModelRegistry

router = APIRouter(tags=["health"])

# A readiness probe must answer even when the database hangs (k8s probes time out at 1 s,
# SageMaker gives /ping 2 s).
DATABASE_TIMEOUT_S = 0.8
_OK = HealthOut()


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
async def healthz() -> HealthOut:
    """Always 200 while the process serves requests; it does not touch the database."""
    return _OK


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready; `reasons` says why."}},
    summary="Readiness",
)
async def readyz(session: SessionDep, registry: RegistryDep, response: Response) -> ReadinessOut:
    """200 when the database answers and every configured model is loaded, else 503."""
    readiness = await check_readiness(session, registry)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return readiness


async def check_readiness(session: AsyncSession, registry: ModelRegistry) -> ReadinessOut:
    """Whether the database answers and every configured model is loaded, and if not, why.

    The one definition of "ready" behind `/readyz` and SageMaker's `/ping`.
    """
    reasons: list[str] = []
    database = await _database_status(session)
    if database != "ok":
        reasons.append(f"database: {database}")
    models: dict[str, ModelStatusOut] = {}
    for model_type in registry.configured:
        loaded = registry.loaded.get(model_type)
        if loaded is not None:
            refused = registry.refused.get(model_type)
            models[model_type] = ModelStatusOut(
                loaded=True, version=loaded.version, refused=refused
            )
        else:
            error = registry.missing.get(model_type, "not loaded")
            models[model_type] = ModelStatusOut(loaded=False, error=error)
            reasons.append(f"model {model_type}: {error}")
    return ReadinessOut(ready=not reasons, database=database, models=models, reasons=reasons)


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
