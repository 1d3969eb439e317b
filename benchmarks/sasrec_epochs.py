"""``recsys evaluate -m sasrec`` on a dataset's files, logging every training epoch.

The same split, fit and full-ranking evaluation as the CLI (recsys.evaluation.experiment), plus
one line per epoch (loss, validation NDCG@10) and the process's CPU seconds, wall seconds and
load average at the end: training time on a shared machine is read from CPU seconds.

    uv run python benchmarks/sasrec_epochs.py leave-last-out 42
    uv run python benchmarks/sasrec_epochs.py temporal 42 '{"num_threads": 1}' reports/x
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from recsys.evaluation.experiment import run_evaluation
    from recsys.evaluation.report import write_report
    from recsys.service.evaluation import load_for_evaluation

    protocol, seed = sys.argv[1], int(sys.argv[2])
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    out = Path(sys.argv[4] if len(sys.argv) > 4 else f"reports/ml-100k-sasrec/{protocol}-{seed}")
    interactions, items = load_for_evaluation(Path("data/ml-100k"), name="ml-100k")
    cpu, wall = time.process_time(), time.time()
    report = run_evaluation(
        interactions,
        dataset="ml-100k",
        protocol=protocol,
        model_types=["sasrec"],
        seed=seed,
        params={"sasrec": {"random_state": seed, **params}},
        with_auc=False,
        items=items,
    )
    load = os.getloadavg()
    print(f"cpu {time.process_time() - cpu:.0f} s, wall {time.time() - wall:.0f} s, load {load}")
    write_report(report, out)
    result = json.loads((out / "results.json").read_text())["models"]["sasrec"]
    print(
        json.dumps(
            {k: result["metrics"][k] for k in ("ndcg", "hr")} | {"fit": result["fit_seconds"]}
        )
    )


if __name__ == "__main__":
    main()
