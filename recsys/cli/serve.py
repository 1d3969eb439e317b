"""``recsys serve`` (uvicorn) and ``recsys ensure-models`` (train what the API would miss)."""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

import recsys
from recsys.cli._common import artifact_store, database_errors, fail, load_settings

# uvicorn, the API (FastAPI, the models) and the database layer are imported when a command
# runs, so that `recsys --help` does not pay for them.
if TYPE_CHECKING:
    from recsys.service.artifacts import ArtifactStore
    from recsys.service.training import TrainReport
    from recsys.settings import Settings

_out = Console()
_PACKAGE_DIR = Path(recsys.__file__).resolve().parent
# Any user of the demo dataset (ML-100K ids start at 1) for the example URL.
EXAMPLE_USER = 1


def serve_command(
    # Environment variables too: SageMaker starts the image as `docker run IMAGE serve`, with
    # no other arguments, and expects the server on 0.0.0.0:8080.
    host: Annotated[
        str,
        typer.Option(
            envvar="RECSYS_HOST",
            help="Interface to bind; 0.0.0.0 to accept outside connections.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            envvar="RECSYS_PORT", min=1, max=65535, help="TCP port (SageMaker expects 8080)."
        ),
    ] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Uvicorn worker processes (default: RECSYS_WORKERS, else one per CPU this "
            "process may use, container CPU limits included).",
        ),
    ] = None,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart when the code changes (development).")
    ] = False,
) -> None:
    """Serve the HTTP API with uvicorn (models: RECSYS_MODELS, loaded at startup)."""
    import uvicorn

    from recsys.api.app import create_app
    from recsys.service.errors import ConfigurationError

    settings = load_settings()
    if workers is None:
        workers = 1 if reload else settings.workers or available_cpus()
    if reload and workers > 1:
        fail("--reload runs one process; drop --workers or --reload")
    # Fail here, in one line, on settings the app would refuse (an unknown model type).
    try:
        create_app(settings)
    except ConfigurationError as exc:
        fail(str(exc))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    _out.print(f"Web pages:      {base}/", highlight=False)
    _out.print(f"API docs:       {base}/docs", highlight=False)
    _out.print(
        f"Example:        {base}/users/{EXAMPLE_USER}/recommendations?k=10&model="
        f"{settings.default_model}",
        highlight=False,
    )
    _out.print(f"Readiness:      {base}/readyz", highlight=False)
    _out.print(f"SageMaker:      {base}/ping, POST {base}/invocations", highlight=False)
    _out.print(f"Workers:        {workers}", highlight=False)
    metrics_dir = _multiprocess_metrics(workers)
    try:
        uvicorn.run(
            "recsys.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            reload_dirs=[str(_PACKAGE_DIR)] if reload else None,
            log_level=settings.log_level.lower(),
            log_config=_log_config(settings),
            # no `server: uvicorn` on every answer: it tells a scanner what to probe for
            server_header=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics(workers: int) -> str | None:
    # Several workers: each keeps its metric values in files in a fresh directory (inherited
    # through the environment, read when a worker imports prometheus_client) and /metrics sums
    # them, whichever worker answers the scrape. Fresh, so no old run's counts are added in.
    if workers <= 1:
        return None
    from recsys.service.metrics import MULTIPROC_ENV

    folder = tempfile.mkdtemp(prefix="recsys-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    return folder


def available_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota (k8s limits)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = max(1, cpus or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return count
    if quota == "max":
        return count
    return max(1, min(count, math.ceil(int(quota) / int(period))))


def _log_config(settings: Settings) -> dict[str, Any]:
    # Uvicorn's own logging setup, plus the recsys loggers (which models loaded, what is missing)
    # on the same handler and format.
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["recsys"] = {
        "handlers": ["default"],
        "level": settings.log_level,
        "propagate": False,
    }
    return config


def ensure_models_command(
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Fit every model again, even those already stored.")
    ] = False,
    bucket_name: Annotated[
        str | None, typer.Option(help="Use gs://BUCKET instead of RECSYS_ARTIFACT_URI.")
    ] = None,
    artifact_uri: Annotated[
        str | None, typer.Option(help="Artifact store URI (default: RECSYS_ARTIFACT_URI).")
    ] = None,
) -> None:
    """Train every RECSYS_MODELS type without a loadable LATEST trained on this database's data.

    A LATEST trained on another dataset (its manifest's fingerprint is not the database's seed)
    is trained again, with one line saying why.
    """
    import asyncio

    from recsys.service.artifacts import ArtifactError
    from recsys.service.errors import NoInteractionsError

    settings = load_settings()
    store = artifact_store(bucket_name=bucket_name, artifact_uri=artifact_uri, settings=settings)
    with database_errors(settings.database_url):
        try:
            reports = asyncio.run(_ensure(settings, store, retrain=retrain))
        except (NoInteractionsError, ArtifactError) as exc:
            fail(str(exc))
    for report in reports:
        info = report.artifact
        _out.print(
            f"{info.model_type}: trained {info.version} on {report.rows_read:,} ratings in "
            f"{report.total_seconds:.1f} s",
            highlight=False,
        )


async def _ensure(settings: Settings, store: ArtifactStore, *, retrain: bool) -> list[TrainReport]:
    from recsys.service.runtime import open_runtime
    from recsys.service.training import check_stored, train

    async with open_runtime(settings) as runtime:
        todo = list(settings.models)
        if not retrain:
            todo = []
            found = await check_stored(
                runtime.read_sessions, store=store, model_types=settings.models
            )
            for stored in found:
                if stored.keep:
                    _out.print(
                        f"{stored.model_type}: keeping {stored.version} (--retrain to fit again)",
                        highlight=False,
                    )
                    continue
                if stored.stale is not None:
                    _out.print(
                        f"{stored.model_type}: LATEST {stored.version} {stored.stale}: retraining",
                        highlight=False,
                        soft_wrap=True,
                    )
                todo.append(stored.model_type)
        reports = []
        for model_type in todo:
            _out.print(f"{model_type}: training ...", highlight=False)
            reports.append(
                await train(
                    runtime.read_sessions,
                    model_type=model_type,
                    store=store,
                    weights=runtime.weights,
                )
            )
        return reports
