"""``recsys predict --all``: every user's top-k from the database's histories, into a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from recsys.cli._common import database_errors, fail

if TYPE_CHECKING:
    from recsys.service.datasets import Interactions
    from recsys.service.eligibility import RankingPlan
    from recsys.service.filters import FilterRequest
    from recsys.service.registry import LoadedModel
    from recsys.settings import Settings

_out = Console()


def predict_all(
    settings: Settings,
    models: dict[str, LoadedModel],
    model_type: str,
    k: int,
    out: Path,
    filters: FilterRequest | None,
) -> None:
    """Write every user's top-k; ``filters`` as for one user (``InvalidFilterError`` if bad)."""
    # Every rating from the database is every user's history; scoring is chunked and vectorised.
    import asyncio

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from recsys.service.batch import count_users, iter_top_k, write_top_k_csv
    from recsys.service.catalog_state import read_deleted
    from recsys.service.eligibility import batch_plans
    from recsys.service.fallback import FALLBACK_MODEL
    from recsys.service.filters import NO_FILTERS
    from recsys.service.runtime import open_runtime
    from recsys.service.training import read_interactions

    model = models[model_type].model
    fallback = models.get(FALLBACK_MODEL) if model_type != FALLBACK_MODEL else None
    ranked = [model] + ([fallback.model] if fallback is not None else [])

    async def export() -> tuple[Interactions, list[RankingPlan]]:
        async with open_runtime(settings) as runtime:
            interactions = await read_interactions(runtime.read_sessions, runtime.weights)
            # Soft-deleted movies are never in the CSV: excluded through the filters' mask.
            deleted = (await read_deleted(runtime.read_sessions)).tolist()
            if filters is None and not deleted:
                return interactions, []
            async with runtime.read_sessions() as session:
                return interactions, await batch_plans(
                    session, ranked, filters or NO_FILTERS, excluded=deleted
                )

    with database_errors(settings.database_url):
        interactions, plans = asyncio.run(export())
    if len(interactions) == 0:
        fail("no ratings or events to predict from: seed a dataset first (recsys db upgrade)")
    plan = plans[0] if plans else None
    fallback_plan = plans[1] if len(plans) > 1 else None
    n_users = count_users(interactions)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"{model_type}: top-{k} of {n_users:,} users", total=n_users)
        chunks = iter_top_k(
            model,
            interactions,
            k=k,
            fallback=fallback.model if fallback else None,
            plan=plan,
            fallback_plan=fallback_plan,
        )
        summary = write_top_k_csv(chunks, out, advance=lambda n: progress.advance(task, n))
    note = f", {summary.fallback_users:,} from the popularity fallback" if fallback else ""
    if summary.empty_users:
        note += f", {summary.empty_users:,} without any recommendation"
    _out.print(
        f"wrote {summary.rows:,} rows for {summary.users:,} users to {out} "
        f"in {summary.seconds:.1f} s ({model_type} {models[model_type].version}{note})",
        highlight=False,
        soft_wrap=True,
    )
