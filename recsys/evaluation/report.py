"""One evaluation run's report and its files: ``report.md``, ``results.json`` and PNG plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys.evaluation.report_plots import plot_coverage_vs_ndcg, plot_metrics, plot_ndcg_curve
from recsys.evaluation.report_text import results_json, to_markdown
from recsys.evaluation.runner import PER_USER_METRICS, ModelEvaluation
from recsys.evaluation.statistics import PairedComparison, paired_comparison

FILES = ("report.md", "results.json", "metrics.png", "ndcg_at_k.png", "coverage_vs_ndcg.png")


@dataclass(frozen=True)
class EvaluationReport:
    """Everything one ``recsys evaluate`` run measured, ready to be written."""

    dataset: str
    protocol: str
    split: dict[str, Any]
    k: int
    seed: int
    reference: str
    runs: Sequence[ModelEvaluation]
    created_at: str
    command: str = ""
    # sha256 of the dataset's ratings (recsys.data.fingerprint), to tie the report to its data.
    data_fingerprint: str = ""
    notes: list[str] = field(default_factory=list)

    def run(self, model_type: str) -> ModelEvaluation:
        """The evaluation of one model type."""
        for run in self.runs:
            if run.model_type == model_type:
                return run
        raise KeyError(f"no evaluation of {model_type!r} in this report")

    def comparisons(self) -> dict[str, dict[str, PairedComparison]]:
        """Per model (reference excluded), per metric: the paired comparison with the reference."""
        ref = self.run(self.reference)
        out: dict[str, dict[str, PairedComparison]] = {}
        for run in self.runs:
            if run.model_type == self.reference:
                continue
            if not np.array_equal(run.users, ref.users):
                raise ValueError(
                    f"{run.model_type} was evaluated on other users than the reference"
                )
            out[run.model_type] = {
                name: paired_comparison(run.per_user[name], ref.per_user[name])
                for name in PER_USER_METRICS
            }
        return out


def write_report(report: EvaluationReport, out: Path) -> list[Path]:
    """Write ``FILES`` into folder ``out`` (created if needed); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    comparisons = report.comparisons()
    paths = [out / name for name in FILES]
    paths[0].write_text(to_markdown(report, comparisons), encoding="utf-8")
    paths[1].write_text(results_json(report, comparisons), encoding="utf-8")
    plot_metrics(report, paths[2])
    plot_ndcg_curve(report, paths[3])
    plot_coverage_vs_ndcg(report, paths[4])
    return paths
