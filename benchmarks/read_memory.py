"""Training read path memory: peak RSS of the read and of the fit, in bytes per interaction.

Seeds a fresh PostgreSQL database with a cached synthetic dataset (benchmarks/train.py's
shapes and cache), then runs, in a fresh child process per model type, what ``recsys train``
runs (``read_interactions``, then ``fit_and_store`` into a throwaway artifact folder) and reads
the kernel's peak-RSS counter (``VmHWM``, reset through ``/proc/self/clear_refs`` before each
stage) around each stage:

- **base**: RSS once everything is imported and the database connected (the job's fixed cost);
- **read**: peak above base while reading, and what stays held after it (the arrays);
- **fit**: peak above base while building the matrix, fitting and writing the artifact;
- **model**: the artifact's size on disk (the fitted model's arrays);
- **job**: max(read, fit) minus the model, per interaction: the issue's "bytes a row of peak
  memory above the fitted model".

Also prints ``/usr/bin/time -v``'s maximum resident set of the real ``recsys train`` job.

    uv run python benchmarks/read_memory.py --size 10m --models popularity,item_knn
    uv run python benchmarks/read_memory.py --size 25m --models popularity
    uv run python benchmarks/read_memory.py --url postgresql+asyncpg://...   # an existing database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from train import (  # benchmarks/train.py: the cached datasets and throwaway databases
    DEFAULT_ADMIN_URL,
    SIZES,
    cache_root,
    create_database,
    dataset_dir,
    drop_database,
    recsys_command,
    seed,
)

MIB = 2**20


def _status(field: str) -> int:
    """A /proc/self/status memory field in bytes."""
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None, field
    return int(match.group(1)) * 1024


def _reset_peak() -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def child(url: str, model_type: str) -> dict[str, Any]:
    """One job's stages, measured in this (fresh) process."""
    from recsys.db.session import create_engine, create_session_factory
    from recsys.events import EventWeights
    from recsys.modeling.artifacts import LocalArtifactStore
    from recsys.service import training
    from recsys.settings import get_settings

    weights = EventWeights(get_settings().event_weights)

    async def read() -> tuple[Any, dict[str, int]]:
        engine = create_engine(url)
        try:
            factory = create_session_factory(engine)
            async with factory() as session:
                await session.connection()  # connect (and warm the pool) outside the peak
            base = _status("VmRSS")
            _reset_peak()
            interactions = await training.read_interactions(factory, weights)
            figures = {
                "base": base,
                "read_peak": _status("VmHWM") - base,
                "read_held": _status("VmRSS") - base,
            }
            return interactions, figures
        finally:
            await engine.dispose()

    interactions, figures = asyncio.run(read())
    rows = len(interactions)
    with tempfile.TemporaryDirectory(prefix="recsys-readmem-") as tmp:
        store = LocalArtifactStore(Path(tmp))
        _reset_peak()
        training.fit_and_store(interactions, model_type=model_type, store=store)
        figures["fit_peak"] = _status("VmHWM") - figures["base"]
        figures["model"] = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    figures["rows"] = rows
    return figures


def time_v(url: str, model_type: str) -> int:
    """``/usr/bin/time -v``'s maximum resident set of ``recsys train``, in bytes."""
    with tempfile.TemporaryDirectory(prefix="recsys-readmem-") as tmp:
        env = {**os.environ, "RECSYS_DATABASE_URL": url, "RECSYS_ARTIFACT_URI": f"file://{tmp}"}
        done = subprocess.run(
            ["/usr/bin/time", "-v", *recsys_command(), "train", "--model-type", model_type],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert match is not None, done.stderr[-2000:]
    return int(match.group(1)) * 1024


def report(model_type: str, f: dict[str, Any], job_rss: int | None) -> None:
    rows = f["rows"]
    peak = max(f["read_peak"], f["fit_peak"])
    per_row = (peak - f["model"]) / rows
    print(
        f"{model_type:>10}: {rows:,} rows; base {f['base'] / MIB:,.0f} MiB; "
        f"read peak {f['read_peak'] / MIB:,.0f} MiB ({f['read_peak'] / rows:.1f} B/row), "
        f"held {f['read_held'] / MIB:,.0f} MiB ({f['read_held'] / rows:.1f} B/row); "
        f"fit peak {f['fit_peak'] / MIB:,.0f} MiB ({f['fit_peak'] / rows:.1f} B/row); "
        f"model {f['model'] / MIB:,.1f} MiB; job above base and model {per_row:.1f} B/row"
        + (f"; /usr/bin/time max RSS {job_rss / MIB:,.0f} MiB" if job_rss else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("URL", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=sorted(SIZES), default="1m")
    parser.add_argument("--url", help="an already seeded database (skips seeding)")
    parser.add_argument("--models", default="popularity")
    parser.add_argument("--no-time-v", action="store_true", help="skip the /usr/bin/time run")
    parser.add_argument("--cache-dir", type=Path, default=cache_root())
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    name = None
    url = args.url
    if url is None:
        data_dir = dataset_dir(SIZES[args.size], seed=args.seed, cache=args.cache_dir)
        name, url = create_database(args.admin_url)
        print(f"seeded in {seed(url, data_dir):.1f} s", flush=True)
    try:
        for model_type in args.models.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--child", url, model_type],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            job_rss = None if args.no_time_v else time_v(url, model_type)
            report(model_type, figures, job_rss)
    finally:
        if name is not None:
            drop_database(args.admin_url, name)


if __name__ == "__main__":
    main()
