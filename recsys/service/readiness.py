"""Whether the service is ready: the database answers and every configured model is loaded.

The one definition of "ready" behind ``/readyz`` and SageMaker's ``/ping``; the routes render
the ``Readiness`` result into their own schemas. Answers say what is wrong in product words
("database unreachable", "model als: artifact missing"): never the driver's text, a host, a port
or a path. The log keeps the detail, once per change (probes run every few seconds).

A model type whose LATEST was refused (at start-up or by a hot reload) while an earlier version
serves is *ready*: the pod answers with a version that loads, and failing readiness would take
every pod of a rollout out of service for one bad promotion. It is not silent either: the model
entry carries ``refused`` and ``warnings`` says which version serves instead of LATEST.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from recsys.db.repositories import DatasetSeedRepository
from recsys.service.availability import DatabaseAvailability, is_unavailable
from recsys.service.registry import ModelRegistry

logger = logging.getLogger(__name__)

# A readiness probe must answer even when the database hangs (k8s probes time out at 1 s,
# SageMaker gives /ping 2 s).
DATABASE_TIMEOUT_S = 0.8
DATABASE_OK = "ok"
DATABASE_UNREACHABLE = "unreachable"
DATABASE_SLOW = f"not answering within {DATABASE_TIMEOUT_S} s"
DATABASE_NOT_MIGRATED = "not migrated (run: recsys db upgrade)"
DATABASE_FAILED = "query failed (see the log)"
_UNDEFINED_TABLE = "42P01"  # SQLSTATE: the tables the migrations create are not there


@dataclass(frozen=True, slots=True)
class ModelReadiness:
    """One configured model type: the version serving, or why none is."""

    loaded: bool
    version: str | None = None
    # LATEST names a version that does not load (the loaded, earlier one serves), and why.
    refused: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """``ready`` when ``reasons`` is empty; ``database`` is "ok" or what went wrong."""

    ready: bool
    database: str
    models: dict[str, ModelReadiness]
    reasons: list[str]
    # Ready, but an operator should look (a refused LATEST, an earlier version serving).
    warnings: list[str]


class ReadinessProbe:
    """Checks readiness; logs what went wrong with the database when it changes, not per probe.

    With ``database`` (the runtime's tracker) a lost connection is recorded there too: one
    "database unavailable" line and its metric, shared with the request paths.
    """

    def __init__(self, database: DatabaseAvailability | None = None) -> None:
        self._database = database
        self._last = DATABASE_OK

    async def check(self, session: AsyncSession, registry: ModelRegistry) -> Readiness:
        """Whether the database answers and every configured model is loaded, and if not, why."""
        reasons: list[str] = []
        database = await self._database_status(session)
        if database != DATABASE_OK:
            reasons.append(f"database {database}")
        models, warnings = _models(registry, reasons)
        return Readiness(
            ready=not reasons,
            database=database,
            models=models,
            reasons=reasons,
            warnings=warnings,
        )

    async def _database_status(self, session: AsyncSession) -> str:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                # A real table, not SELECT 1: a database that answers but was never migrated
                # is not ready either.
                await DatasetSeedRepository(session).latest()
        except Exception as exc:
            status = self._classify(exc)
            if status != self._last:
                # One line for what is understood; the traceback only for what is not.
                logger.warning(
                    "readiness: database %s (%s: %s)",
                    status,
                    type(exc).__name__,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else "no message",
                    exc_info=exc if status == DATABASE_FAILED else None,
                )
            self._last = status
            return status
        if self._last != DATABASE_OK:
            logger.info("readiness: database ok again")
            self._last = DATABASE_OK
        return DATABASE_OK

    def _classify(self, exc: Exception) -> str:
        if isinstance(exc, TimeoutError):  # ours (asyncio.timeout) or the connect timeout
            return DATABASE_SLOW
        if _no_such_table(exc):
            return DATABASE_NOT_MIGRATED
        if is_unavailable(exc):
            if self._database is not None:
                self._database.translate(exc)  # one "database unavailable" line, counted
            return DATABASE_UNREACHABLE
        return DATABASE_FAILED


def _no_such_table(exc: Exception) -> bool:
    # PostgreSQL says so with a SQLSTATE; SQLite (an OperationalError, which otherwise means a
    # lost database) only in words.
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE:
        return True
    return isinstance(exc, sa_exc.OperationalError) and "no such table" in str(exc.orig)


async def check_readiness(
    session: AsyncSession, registry: ModelRegistry, *, probe: ReadinessProbe | None = None
) -> Readiness:
    """``probe.check`` (a fresh probe when none is given: it logs every database failure)."""
    return await (probe or ReadinessProbe()).check(session, registry)


def _models(
    registry: ModelRegistry, reasons: list[str]
) -> tuple[dict[str, ModelReadiness], list[str]]:
    models: dict[str, ModelReadiness] = {}
    warnings: list[str] = []
    for model_type in registry.configured:
        loaded = registry.loaded.get(model_type)
        if loaded is None:
            error = registry.missing.get(model_type, "not loaded")
            models[model_type] = ModelReadiness(loaded=False, error=error)
            reasons.append(f"model {model_type}: {error}")
            continue
        refusal = registry.refused.get(model_type)
        refused = None if refusal is None else str(refusal)
        models[model_type] = ModelReadiness(loaded=True, version=loaded.version, refused=refused)
        if refusal is None:
            continue
        if refusal.version is None:
            warnings.append(
                f"model {model_type}: serving {loaded.version}, the newest stored version that "
                f"loads ({refusal.reason})"
            )
        else:
            warnings.append(
                f"model {model_type}: serving {loaded.version}, not LATEST {refusal.version} "
                f"({refusal.reason})"
            )
    return models, warnings
