"""``GET /metrics``: every series in Prometheus text (all workers' sum under `recsys serve`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from recsys.service.metrics import render_metrics

router = APIRouter(tags=["health"])


# A plain def: with several workers the scrape reads their files, off the event loop.
@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
