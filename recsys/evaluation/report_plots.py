"""The plots of an evaluation report: metrics by model, NDCG@K curves, coverage vs accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.evaluation.metrics import metric_label
from recsys.evaluation.plotting import figure, save
from recsys.evaluation.runner import CURVE_K

if TYPE_CHECKING:
    from recsys.evaluation.report import EvaluationReport

# The top-K accuracy metrics plotted side by side (AUC gets its own panel: it is ~10x larger).
TOP_K_PLOTTED = ("hr", "recall", "precision", "ndcg", "map", "mrr")


def plot_metrics(report: EvaluationReport, path: Path) -> None:
    """Grouped bars of each accuracy metric by model with 95% CI error bars (AUC on its own)."""
    fig = figure(10.0, 4.5)
    left, right = fig.subplots(1, 2, width_ratios=[len(TOP_K_PLOTTED), 1.6])
    _bars(left, report, TOP_K_PLOTTED)
    _bars(right, report, ("auc",))
    left.set_ylabel("mean over users (95% CI)")
    left.legend(fontsize="small", ncols=min(len(report.runs), 4))
    fig.suptitle(f"{report.dataset}, {report.protocol}: metrics by model")
    save(fig, path)


def _bars(ax: Any, report: EvaluationReport, names: Sequence[str]) -> None:
    n_models = max(len(report.runs), 1)
    width = 0.8 / n_models
    x = np.arange(len(names))
    for i, run in enumerate(report.runs):
        estimates = run.estimates()
        means = [estimates[name].mean for name in names]
        errors = [np.nan_to_num(estimates[name].half_width) for name in names]
        offset = (i - (n_models - 1) / 2) * width
        ax.bar(x + offset, means, width, yerr=errors, capsize=2, label=run.model_type)
    ax.set_xticks(x, [metric_label(name, report.k) for name in names])
    ax.grid(axis="y", alpha=0.3)


def plot_ndcg_curve(report: EvaluationReport, path: Path) -> None:
    """NDCG@K for K = 1..50 per model, with a 95% CI band."""
    fig = figure(7.5, 4.5)
    ax = fig.add_subplot()
    ks = np.arange(1, CURVE_K + 1)
    for run in report.runs:
        (line,) = ax.plot(ks, run.ndcg_curve, label=run.model_type)
        half = np.nan_to_num(run.ndcg_curve_half_width)
        ax.fill_between(
            ks, run.ndcg_curve - half, run.ndcg_curve + half, color=line.get_color(), alpha=0.08
        )
    ax.set_xlabel("K")
    ax.set_ylabel("NDCG@K")
    ax.set_title(f"{report.dataset}, {report.protocol}: NDCG@K")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    save(fig, path)


def plot_coverage_vs_ndcg(report: EvaluationReport, path: Path) -> None:
    """One point per model: item coverage@K against NDCG@K (with its 95% CI)."""
    fig = figure(6.5, 4.5)
    ax = fig.add_subplot()
    for run in report.runs:
        e = run.estimates()["ndcg"]
        error = [np.nan_to_num(e.half_width)]
        ax.errorbar([run.coverage], [e.mean], yerr=error, fmt="o", capsize=3, label=run.model_type)
    ax.set_xlabel(f"item coverage@{report.k}")
    ax.set_ylabel(f"NDCG@{report.k}")
    ax.set_title(f"{report.dataset}, {report.protocol}: coverage vs accuracy")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    save(fig, path)
