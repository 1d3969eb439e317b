"""Training-job benchmark: the whole ``recsys train`` job against implicit's bare ``fit``.

For each size, generates (or reuses a cached copy of) a synthetic dataset with
``recsys.data.synth``, seeds a fresh throwaway PostgreSQL database through the Alembic
migrations, then, per model type and repeat:

- runs ``recsys train --model-type X`` as a subprocess, as a user runs it (console script, with
  ``RECSYS_DATABASE_URL`` and ``RECSYS_ARTIFACT_URI`` set): wall time including interpreter
  start-up, the job's own read / fit / write split (it prints them) and its peak RSS;
- in this process, on the same data: ``RatingRepository.export()``, ``build_matrix`` with the
  job's default weighting, and implicit's bare ``fit`` on that CSR with the job's default
  parameters (``AlternatingLeastSquares`` / ``CosineRecommender``, one BLAS thread);
- times a fresh interpreter importing the CLI and what ``recsys train`` imports when it runs
  (the CLI root itself no longer imports the models): the job's fixed start-up.

Target: job <= 1.3 x bare fit + 2 s. Run:

    uv run python benchmarks/train.py                     # 1M ratings, als + item_knn, 3 repeats
    uv run python benchmarks/train.py --sizes 25m --repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import numpy as np
from alembic import command
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from sqlalchemy.engine import make_url
from threadpoolctl import threadpool_limits

from recsys.cli.db import alembic_config
from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.data.synth import generate
from recsys.data.writer import write_dataset
from recsys.db.repositories import RatingRepository
from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.als import ALSParams
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.item_knn import ItemKNNParams
from recsys.modeling.registry import model_class
from recsys.settings import get_settings

# What the service reads with: RECSYS_EVENT_WEIGHTS, as before repositories took them.
WEIGHTS = EventWeights(get_settings().event_weights)

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATASET_NAME = "synth"
TARGET_RATIO = 1.3
TARGET_SLACK_S = 2.0
MODELS = ("als", "item_knn")


@dataclass(frozen=True)
class Size:
    """One synthetic dataset shape."""

    users: int
    movies: int
    ratings: int


SIZES = {
    "100k": Size(943, 1_682, 100_000),  # ML-100K shape: a quick smoke run
    "1m": Size(6_040, 3_706, 1_000_000),  # ML-1M shape
    "10m": Size(162_541, 62_423, 10_000_000),  # the catalogue scale, 10M interactions
    "25m": Size(162_541, 62_423, 25_000_000),  # ML-25M shape
}


@dataclass
class Result:
    """Every repeat of one model at one size."""

    size: str
    model: str
    runs: list[dict[str, float]] = field(default_factory=list)

    def median(self, metric: str) -> float:
        return statistics.median(run[metric] for run in self.runs)


# --------------------------------------------------------------------------- data + database


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recsys" / "benchmarks"


def dataset_dir(size: Size, *, seed: int, cache: Path) -> Path:
    """A data_dir holding ``synth/``: reused when a complete copy exists, else generated."""
    data_dir = cache / f"synth-{size.users}u-{size.movies}m-{size.ratings}r-seed{seed}"
    done = data_dir / "COMPLETE.json"
    if done.is_file():
        print(f"  dataset: cached copy in {data_dir}", flush=True)
        return data_dir
    start = time.perf_counter()
    synthetic = generate(users=size.users, items=size.movies, interactions=size.ratings, seed=seed)
    tmp = data_dir.with_name(data_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_dataset(synthetic, tmp / DATASET_NAME)
    shutil.rmtree(data_dir, ignore_errors=True)
    tmp.rename(data_dir)
    # Written last, so an interrupted run is regenerated rather than half-reused.
    done.write_text(json.dumps({"size": size.__dict__, "seed": seed}) + "\n")
    print(
        f"  dataset: generated + written to {data_dir} in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    return data_dir


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(admin_url: str) -> tuple[str, str]:
    """A new empty database: (name, SQLAlchemy URL)."""
    name = f"recsys_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def seed(url: str, data_dir: Path) -> float:
    """Seconds for ``alembic upgrade head`` with the synthetic dataset."""
    start = time.perf_counter()
    config = alembic_config(database_url=url, dataset=DATASET_NAME, data_dir=data_dir)
    command.upgrade(config, "head")
    return time.perf_counter() - start


# --------------------------------------------------------------------------- the job


def recsys_command() -> list[str]:
    """The installed ``recsys`` console script of this environment."""
    script = Path(sys.executable).with_name("recsys")
    if not script.is_file():
        raise SystemExit(f"no recsys console script next to {sys.executable}: run `uv sync`")
    return [str(script)]


_STEP = re.compile(r"^\W*(read|fit|write)\W+([0-9.]+) s\W*$", re.MULTILINE)


def run_job(
    model: str, *, url: str, artifacts: Path, timeout: float
) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, peak RSS (MiB) and the printed read/fit/write of one ``recsys train``."""
    env = {
        **os.environ,
        "RECSYS_DATABASE_URL": url,
        "RECSYS_ARTIFACT_URI": artifacts.as_uri(),
        "COLUMNS": "120",
    }
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*recsys_command(), "train", "--model-type", model],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all).
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if wall >= timeout:
            raise SystemExit(f"recsys train --model-type {model}: killed after {timeout:.0f} s")
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"recsys train --model-type {model} failed:\n{text}")
    steps = {name: float(value) for name, value in _STEP.findall(text)}
    if set(steps) != {"read", "fit", "write"}:
        raise SystemExit(f"could not find read/fit/write in the job's output:\n{text}")
    return wall, usage.ru_maxrss / 1024, steps


# What `recsys train` has imported before it reads the first rating (recsys/cli/models.py).
_TRAIN_IMPORTS = (
    "import recsys.cli, recsys.service.training, recsys.modeling.registry, recsys.db.session, "
    "recsys.settings, rich.progress"
)


def time_startup() -> float:
    """Seconds for a fresh interpreter to import what the train job imports (its fixed cost)."""
    start = time.perf_counter()
    # -P: no current directory on sys.path, so the same package as the job's is imported.
    subprocess.run([sys.executable, "-P", "-c", _TRAIN_IMPORTS], check=True)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- bare implicit


def export(url: str) -> tuple[float, Interactions]:
    """Seconds for ``RatingRepository.export()`` (the job's read) and the interactions."""

    async def run() -> tuple[float, Interactions]:
        engine = create_engine(url)
        try:
            start = time.perf_counter()
            async with create_session_factory(engine)() as session:
                interactions = await RatingRepository(session).export(WEIGHTS)
            return time.perf_counter() - start, interactions
        finally:
            await engine.dispose()

    return asyncio.run(run())


def bare_fit(model: str, matrix: InteractionMatrix) -> float:
    """Seconds for implicit's own ``fit`` on the job's CSR with the job's default parameters."""
    csr = matrix.user_items
    # As the job: implicit parallelises over rows itself, BLAS stays single-threaded.
    with threadpool_limits(1, "blas"):
        if model == "als":
            p = ALSParams()
            als = AlternatingLeastSquares(
                factors=p.factors,
                regularization=p.regularization,
                alpha=p.alpha,
                iterations=p.iterations,
                random_state=p.random_state,
                dtype=np.float32,
            )
            start = time.perf_counter()
            als.fit(csr, show_progress=False)
        else:
            knn = CosineRecommender(K=ItemKNNParams().k)
            start = time.perf_counter()
            with warnings.catch_warnings():
                # normalize() hands all_pairs_knn a COO matrix: implicit warns, converts, goes on.
                warnings.simplefilter("ignore", ParameterWarning)
                knn.fit(csr, show_progress=False)
        return time.perf_counter() - start


# --------------------------------------------------------------------------- report


def verdict(job: float, bare: float) -> str:
    limit = TARGET_RATIO * bare + TARGET_SLACK_S
    return f"{'met' if job <= limit else 'MISSED'} (limit {limit:.2f} s)"


def print_table(results: Sequence[Result]) -> None:
    print()
    header = (
        f"{'size':<5} {'model':<9} {'n':>2} {'job wall':>9} {'peak RSS':>9} | {'start-up':>8} "
        f"{'read':>6} {'fit*':>7} {'write':>6} {'rest':>6} | {'export':>6} {'build':>6} "
        f"{'(fprint)':>8} {'bare fit':>8} | {'job/bare':>8} {'load':>4}  target"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        wall, bare = r.median("job_wall"), r.median("bare_fit")
        steps = [r.median(f"job_{step}") for step in ("read", "fit", "write")]
        rest = wall - r.median("startup") - sum(steps)
        print(
            f"{r.size:<5} {r.model:<9} {len(r.runs):>2} {wall:>7.2f} s "
            f"{r.median('job_rss_mib'):>5.0f} MiB | {r.median('startup'):>8.2f} "
            f"{steps[0]:>6.2f} {steps[1]:>7.2f} {steps[2]:>6.2f} {rest:>6.2f} | "
            f"{r.median('export'):>6.2f} {r.median('build'):>6.2f} "
            f"{r.median('fingerprint'):>8.2f} {bare:>8.2f} | {wall / bare:>7.2f}x "
            f"{max(run['load'] for run in r.runs):>4.1f}  "
            f"{verdict(wall, bare)}"
        )
    print(
        "\nMedians, seconds. Job: the `recsys train` subprocess; wall includes interpreter"
        "\nstart-up; read / fit* / write as it prints them (fit* = build_matrix + fit);"
        "\nrest = wall - start-up - read - fit* - write. In-process on the same rows: export,"
        "\nbuild (build_matrix, with the fingerprint), bare fit (implicit alone, job's params)."
        "\nload: the highest 1-minute load average seen after a repeat (2 cores here)."
        f"\nTarget: job <= {TARGET_RATIO} x bare fit + {TARGET_SLACK_S:.0f} s."
    )


def run_once(model: str, *, url: str, artifacts: Path, timeout: float) -> dict[str, float]:
    """One repeat: the job as a subprocess, then the bare pipeline in-process (seconds, MiB)."""
    startup = time_startup()
    wall, rss, steps = run_job(model, url=url, artifacts=artifacts, timeout=timeout)
    export_s, interactions = export(url)
    start = time.perf_counter()
    interactions_fingerprint(interactions)
    fingerprint_s = time.perf_counter() - start
    start = time.perf_counter()
    matrix = build_matrix(interactions, weighting=model_class(model).default_weighting)
    build_s = time.perf_counter() - start
    del interactions  # the bare fit runs with what implicit needs, as the job's fit does
    return {
        "job_wall": wall,
        "job_rss_mib": rss,
        **{f"job_{step}": seconds for step, seconds in steps.items()},
        "startup": startup,
        "export": export_s,
        "fingerprint": fingerprint_s,
        "build": build_s,
        "bare_fit": bare_fit(model, matrix),
        # Other jobs on a shared machine skew every figure: keep the 1-minute load beside them.
        "load": os.getloadavg()[0],
    }


# --------------------------------------------------------------------------- main


def bench_size(
    label: str, args: argparse.Namespace, models: Sequence[str], cache: Path
) -> list[Result]:
    size = SIZES[label]
    print(
        f"{label}: {size.users:,} users x {size.movies:,} movies, {size.ratings:,} ratings",
        flush=True,
    )
    data_dir = dataset_dir(size, seed=args.seed, cache=cache)
    name, url = create_database(args.admin_url)
    results = [Result(label, model) for model in models]
    try:
        print(f"  seeded {name} (alembic upgrade head) in {seed(url, data_dir):.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="recsys-bench-artifacts-") as tmp:
            for repeat in range(args.repeats):
                for result in results:
                    run = run_once(
                        result.model,
                        url=url,
                        artifacts=Path(tmp) / f"run{repeat}",
                        timeout=args.timeout,
                    )
                    result.runs.append(run)
                    ratio = run["job_wall"] / run["bare_fit"]
                    print(
                        f"  run {repeat + 1} {result.model:<8}: job {run['job_wall']:6.2f} s "
                        f"(start-up {run['startup']:.2f}, read {run['job_read']:.2f}, "
                        f"fit {run['job_fit']:.2f}, write {run['job_write']:.2f}), "
                        f"peak RSS {run['job_rss_mib']:,.0f} MiB | in-process: export "
                        f"{run['export']:.2f}, build_matrix {run['build']:.2f}, bare fit "
                        f"{run['bare_fit']:.2f} s | job/bare {ratio:.2f}x | load {run['load']:.1f}",
                        flush=True,
                    )
    finally:
        if args.keep_db:
            print(f"  kept database {name}: {url}")
        else:
            drop_database(args.admin_url, name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1m", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model types")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the databases")
    parser.add_argument("--cache-dir", type=Path, default=cache_root())
    parser.add_argument("--timeout", type=float, default=1800.0, help="per job, seconds")
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    )
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [s for s in sizes if s not in SIZES]:
        parser.error(f"--sizes: unknown {bad}; choose from {', '.join(SIZES)}")
    if bad := [m for m in models if m not in MODELS]:
        parser.error(f"--models: unknown {bad}; choose from {', '.join(MODELS)}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    start = time.perf_counter()
    results: list[Result] = []
    for label in sizes:
        results += bench_size(label, args, models, args.cache_dir)
    print_table(results)
    print(f"\nbenchmark wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
