"""What a full garbage collection stalls a serving worker for, with and without ``gc.freeze()``.

A full (generation 2) collection walks every tracked object and holds the event loop while it
does: every in-flight request waits. The app's lifespan freezes what start-up built (models,
catalogue, history cache, imported modules) so collections skip it. This starts the app's
lifespan in process exactly as ``recsys serve`` would (same settings from the environment),
then times ``gc.collect()`` as serving sees it (frozen) and after ``gc.unfreeze()`` (as it was).

Run (a migrated, seeded database and trained models, e.g. after ``make demo``):

    RECSYS_DATABASE_URL=... RECSYS_ARTIFACT_URI=... RECSYS_MODELS=als,item_knn,popularity \\
        uv run python benchmarks/gc_pause.py
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time

from recsys.api.app import create_app


def collect_ms(repeat: int) -> tuple[float, float]:
    """Median and max milliseconds of a full collection over ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        gc.collect()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), max(samples)


async def main(repeat: int = 7) -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        tracked = len(gc.get_objects())
        frozen_median, frozen_max = collect_ms(repeat)
        gc.unfreeze()
        total = len(gc.get_objects())
        plain_median, plain_max = collect_ms(repeat)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"models: {os.environ.get('RECSYS_MODELS', '(default)')}; load average {load}")
    print("| full collection | objects walked | median ms | max ms |")
    print("|---|--:|--:|--:|")
    rows = [
        ("after start-up, frozen (serving)", tracked, frozen_median, frozen_max),
        ("unfrozen (before)", total, plain_median, plain_max),
    ]
    for name, objects, median, worst in rows:
        print(f"| {name} | {objects:,} | {median:.1f} | {worst:.1f} |")
    print(f"({frozen:,} objects frozen at start-up)")


if __name__ == "__main__":
    asyncio.run(main())
