"""``/healthz`` (the process answers) and ``/readyz`` (database and every model are there)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from recsys.api.deps import RuntimeDep, SessionDep
from recsys.api.schemas.health import HealthOut, ModelStatusOut, ReadinessOut
from recsys.service.readiness import Readiness

router = APIRouter(tags=["health"])

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
async def readyz(session: SessionDep, runtime: RuntimeDep, response: Response) -> ReadinessOut:
    """200 when the database answers and every configured model is loaded, else 503.

    A model type whose LATEST does not load serves the newest earlier version that does: still
    200, with that model's `refused` and a line in `warnings`. Answers name no host, path or URI.
    """
    readiness = await runtime.readiness.check(session, runtime.registry)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    histories = runtime.histories
    return _out(readiness, "off" if histories is None else histories.state)


def _out(readiness: Readiness, history_cache: str) -> ReadinessOut:
    return ReadinessOut(
        ready=readiness.ready,
        database=readiness.database,
        models={
            name: ModelStatusOut(
                loaded=m.loaded, version=m.version, error=m.error, refused=m.refused
            )
            for name, m in readiness.models.items()
        },
        reasons=readiness.reasons,
        warnings=readiness.warnings,
        history_cache=history_cache,
    )
