"""Benchmark: ALS fitted by implicit (in process) vs by Spark local[2] (issue 18), same data.

For each dataset and engine, a fresh worker process (so each engine's peak memory is its own:
the worker plus, for Spark, its JVM, sampled from /proc every 0.2 s):

- leave-last-out split of the dataset's files (no database: the DB read is the same for both
  engines, ``benchmarks/train.py`` measures it), the train part weighted as ``recsys train``
  weighs it (confidence, 1 + rating);
- implicit: ``ALSRecommender.fit`` (implicit's CPU ALS, its own threads, one BLAS thread);
  spark: SparkSession start, the Parquet export, ``pyspark.ml`` ALS at the mapped parameters
  (recsys.modeling.spark.mapping) and collecting the factors; both at the default ALS
  parameters (64 factors, 30 iterations) unless ``--factors/--iterations`` say otherwise;
- write: ``save_model`` into a temporary local store (the same artifact for both);
- NDCG@10 (95% CI) of the held-out item over a seeded sample of users (``--sample``), scored
  as the API scores (fold-in from the train history against the item factors).

Every figure is printed with the load average at that moment. Run (needs the spark group):

    make bench-train-spark                                     # ml-100k and synth-1m
    uv run python benchmarks/train_spark.py --datasets ml-100k --engines implicit,spark
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("ml-100k", "synth-1m")
ENGINES = ("implicit", "spark")
SYNTH_1M = {"users": 6040, "items": 3706, "interactions": 1_000_000, "seed": 7}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --------------------------------------------------------------------------- worker


def interactions_of(name: str, data_dir: Path) -> Any:
    from recsys.data.loader import load_dataset
    from recsys.data.synth import generate
    from recsys.evaluation.splits import interactions_from_ratings

    if name == "ml-100k":
        return interactions_from_ratings(load_dataset(data_dir / "ml-100k").ratings)
    if name != "synth-1m":
        raise SystemExit(f"--datasets: {name!r} is not one of {', '.join(DATASETS)}")
    return interactions_from_ratings(generate(**SYNTH_1M).ratings)  # type: ignore[arg-type]


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.evaluation.runner import EvalData, evaluate_model
    from recsys.evaluation.splits import Split, leave_last_out, take
    from recsys.modeling.als import ALSParams, ALSRecommender
    from recsys.modeling.artifacts import LocalArtifactStore, save_model
    from recsys.modeling.dataset import build_matrix

    interactions = interactions_of(args.dataset, Path(args.data_dir))
    split = leave_last_out(interactions)
    users = np.unique(split.test.user_ids)
    sample = np.random.default_rng(0).choice(users, min(args.sample, users.shape[0]), replace=False)
    test = take(split.test, np.isin(split.test.user_ids, sample))
    data = EvalData.from_split(Split(split.name, split.train, test, split.params))
    matrix = build_matrix(split.train, weighting="confidence")
    params = ALSParams(factors=args.factors, iterations=args.iterations)
    store = LocalArtifactStore(tempfile.mkdtemp(prefix="bench-spark-"))
    out: dict[str, Any] = {
        "dataset": args.dataset,
        "engine": args.engine,
        "interactions": matrix.nnz,
        "users": matrix.shape[0],
        "items": matrix.shape[1],
        "factors": args.factors,
        "iterations": args.iterations,
        "start_s": 0.0,
        "export_s": 0.0,
    }
    started = time.perf_counter()
    if args.engine == "implicit":
        model: ALSRecommender = ALSRecommender(params)
        model.fit(matrix)
        out["fit_s"] = time.perf_counter() - started
    else:
        from recsys.modeling.spark.model import SparkALSRecommender
        from recsys.modeling.spark.session import start_session

        session = start_session(args.master, {"spark.driver.memory": args.driver_memory})
        out["start_s"] = time.perf_counter() - started
        model = SparkALSRecommender(
            params, session=session, store=store, export_folder="spark-exports/bench"
        )
        model.fit(matrix)
        assert model.run is not None
        out["export_s"] = model.run.export_seconds
        out["fit_s"] = model.run.fit_seconds
        out["spark"] = model.run.params.to_dict()
    started = time.perf_counter()
    save_model(store, model)
    out["write_s"] = time.perf_counter() - started
    ndcg = evaluate_model(model, data, k=10, with_auc=False).estimates()["ndcg"]
    out["ndcg"] = {"mean": ndcg.mean, "low": ndcg.low, "high": ndcg.high, "n": ndcg.n}
    out["load_average"] = load_average()
    return out


# --------------------------------------------------------------------------- parent


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (the JVM is a child), MiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def run_worker(dataset: str, engine: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--dataset",
        dataset,
        "--engine",
        engine,
        "--data-dir",
        args.data_dir,
        "--sample",
        str(args.sample),
        "--factors",
        str(args.factors),
        "--iterations",
        str(args.iterations),
        "--master",
        args.master,
        "--driver-memory",
        args.driver_memory,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss_mib(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{dataset}/{engine} worker failed with exit status {process.returncode}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mib"] = peak[0]
    return result


def row(r: dict[str, Any]) -> str:
    n = r["ndcg"]
    return (
        f"| {r['dataset']} | {r['engine']} | {r['interactions']:,} | {r['start_s']:.1f} | "
        f"{r['export_s']:.2f} | {r['fit_s']:.1f} | {r['fit_s'] / r['iterations']:.2f} | "
        f"{r['write_s']:.2f} | {r['wall_s']:.1f} | {r['peak_rss_mib']:,.0f} | "
        f"{n['mean']:.4f} [{n['low']:.4f}, {n['high']:.4f}] (n={n['n']}) | {r['load_average']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="ml-100k,synth-1m")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--data-dir", default=os.environ.get("RECSYS_DATA_DIR", "data"))
    parser.add_argument("--sample", type=int, default=2000, help="users scored for NDCG@10")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="3g", help="spark.driver.memory (JVM heap)")
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    print(
        "| data | engine | interactions | start s | export s | fit s | s/iter | write s | "
        "wall s | peak RSS MiB | NDCG@10 [95% CI] | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for dataset in args.datasets.split(","):
        for engine in args.engines.split(","):
            result = run_worker(dataset, engine, args)
            results.append(result)
            print(row(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
