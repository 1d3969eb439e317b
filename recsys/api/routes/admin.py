"""``POST /admin/reload``: serve each model type's new LATEST now, without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from recsys.api.auth import WriteAuth
from recsys.api.deps import RuntimeDep
from recsys.api.routing import WriteRoute
from recsys.api.schemas.admin import ModelReloadOut, ReloadOut
from recsys.api.schemas.common import ErrorOut
from recsys.service.reload import ReloadReport

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[WriteAuth], route_class=WriteRoute
)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token."},
    403: {"model": ErrorOut, "description": "Wrong token, or write routes are off (no token set)."},
    409: {
        "model": ReloadOut,
        "description": "A version was refused or the store could not be read: that model type "
        "keeps serving what it served; the others were reloaded.",
    },
}


@router.post(
    "/reload",
    response_model=ReloadOut,
    responses=_RESPONSES,
    summary="Hot-reload every model type's LATEST",
)
async def reload(runtime: RuntimeDep, response: Response) -> ReloadOut:
    """Load each configured model type whose LATEST names a version other than the one serving,
    then swap them in at once: requests already running finish on the old models, the next ones
    get the new. A version that does not load is refused and the old one keeps serving (409).

    Needs `Authorization: Bearer <RECSYS_API_WRITE_TOKEN>`.
    """
    report = await runtime.live.reload()
    if report.refused:
        response.status_code = status.HTTP_409_CONFLICT
    return _out(report)


def _out(report: ReloadReport) -> ReloadOut:
    return ReloadOut(
        ok=not report.refused,
        changed=report.changed,
        models={
            o.model_type: ModelReloadOut(
                status=o.status.value,
                version=o.version,
                previous=o.previous,
                latest=o.latest,
                error=o.error,
            )
            for o in report.outcomes
        },
    )
