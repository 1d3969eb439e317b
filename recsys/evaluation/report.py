"""An evaluation run as files: ``report.md``, ``results.json`` and PNG plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recsys.evaluation.metrics import Estimate, PairedComparison, paired_comparison
from recsys.evaluation.runner import CURVE_K, PER_USER_METRICS, ModelEvaluation

LABELS = {
    "hr": "HR",
    "recall": "Recall",
    "precision": "Precision",
    "ndcg": "NDCG",
    "map": "MAP",
    "mrr": "MRR",
    "auc": "AUC",
    "novelty": "Novelty",
}
# The top-K accuracy metrics plotted side by side (AUC gets its own panel: it is ~10x larger).
TOP_K_PLOTTED = ("hr", "recall", "precision", "ndcg", "map", "mrr")
DEFINITIONS = {
    "candidates": "every train-catalogue movie the user has not rated in train (full ranking)",
    "hr": "1 if any of the top K is a test item",
    "recall": "hits in top K / min(|test|, K)",
    "precision": "hits in top K / K",
    "ndcg": "binary DCG@K / ideal DCG over min(|test|, K) items",
    "map": "sum of precision@i at each hit i <= K, / min(|test|, K)",
    "mrr": "1 / rank of the first hit within K, else 0",
    "auc": "P(test item ranked above a non-test candidate), ties 1/2, whole ranking",
    "coverage": "distinct movies in anybody's top K / catalogue size",
    "novelty": "mean -log2(share of train users who rated the movie) over the top K",
    "ci": "95% normal-approximation interval over users: mean ± 1.96 sd / sqrt(n)",
    "paired": "per-user difference vs the reference; normal CI, two-sided paired t-test",
}
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
    payload = json.dumps(_clean(to_json(report, comparisons)), indent=2, allow_nan=False)
    paths[1].write_text(payload + "\n", encoding="utf-8")
    plot_metrics(report, paths[2])
    plot_ndcg_curve(report, paths[3])
    plot_coverage_vs_ndcg(report, paths[4])
    return paths


def metric_label(name: str, k: int) -> str:
    """Column title: ``NDCG@10``; AUC is not truncated, so no ``@K``."""
    return LABELS[name] if name == "auc" else f"{LABELS[name]}@{k}"


def format_estimate(estimate: Estimate, *, digits: int = 4) -> str:
    """``0.1234 ± 0.0056`` (just the mean when there is no interval)."""
    if math.isnan(estimate.mean):
        return "n/a"
    if math.isnan(estimate.half_width):
        return f"{estimate.mean:.{digits}f}"
    return f"{estimate.mean:.{digits}f} ± {estimate.half_width:.{digits}f}"


def summary_rows(report: EvaluationReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table (markdown and terminal share it)."""
    header = [
        "model",
        *(metric_label(name, report.k) for name in PER_USER_METRICS),
        f"Coverage@{report.k}",
        "fit (s)",
        "eval (s)",
    ]
    rows = []
    for run in report.runs:
        estimates = run.estimates()
        rows.append(
            [
                run.model_type,
                *(
                    format_estimate(estimates[name], digits=3 if name == "novelty" else 4)
                    for name in PER_USER_METRICS
                ),
                f"{run.coverage:.4f}",
                f"{run.fit_seconds:.2f}",
                f"{run.eval_seconds:.2f}",
            ]
        )
    return header, rows


def comparison_rows(
    report: EvaluationReport, comparisons: dict[str, dict[str, PairedComparison]]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paired-comparison table: each model's mean difference per metric."""
    header = ["model", *(metric_label(name, report.k) for name in PER_USER_METRICS)]
    rows = [
        [model_type, *(_difference(by_metric[name]) for name in PER_USER_METRICS)]
        for model_type, by_metric in comparisons.items()
    ]
    return header, rows


def detail_rows(
    report: EvaluationReport, comparisons: dict[str, dict[str, PairedComparison]], metric: str
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one metric's comparison in full: CI, t, p and users better/worse/tied."""
    header = ["model", "Δ mean", "95% CI", "t", "p", "better / worse / tied"]
    rows = []
    for model_type, by_metric in comparisons.items():
        c = by_metric[metric]
        rows.append(
            [
                model_type,
                _difference(c),
                f"[{c.low:+.4f}, {c.high:+.4f}]",
                f"{c.t:.2f}",
                _p_value(c.p_value),
                f"{c.better} / {c.worse} / {c.tied}",
            ]
        )
    return header, rows


def to_markdown(
    report: EvaluationReport, comparisons: dict[str, dict[str, PairedComparison]]
) -> str:
    """The human-readable report."""
    split = report.split
    n_users = report.runs[0].users.shape[0] if report.runs else 0
    lines = [
        f"# Evaluation: {report.dataset}, {report.protocol}, K = {report.k}",
        "",
        f"Generated {report.created_at}"
        + (f" by `{report.command}`" if report.command else "")
        + f"; seed {report.seed}.",
        "",
        "Every model is trained on the train part and ranks, for each of the "
        f"{n_users:,} test users, every movie of the train catalogue the user has not rated "
        "in train (full ranking, no sampled negatives). Values are means over users "
        "± the half-width of a 95% normal-approximation confidence interval.",
        "",
        "## Split",
        "",
        f"Data: `{report.data_fingerprint}`." if report.data_fingerprint else "",
        "",
        *_split_lines(split),
        "",
        f"## Results (K = {report.k})",
        "",
        *_table(*summary_rows(report)),
        "",
        f"Timings: fit = build the matrix and train on the train part; eval = rank all "
        f"candidates for all {n_users:,} test users and compute every metric.",
        "",
        f"## Paired comparison against {report.reference}",
        "",
        f"Mean per-user difference (model − {report.reference}) on the same users; `*` marks "
        "a difference significant at the 5% level (two-sided paired t-test). Every metric's "
        "CI, t, p and users better / worse / tied are in results.json.",
        "",
        *_table(*comparison_rows(report, comparisons)),
        "",
        f"{metric_label('ndcg', report.k)} in detail (95% normal-approximation CI of the "
        "difference; users better / worse / tied than with the reference):",
        "",
        *_table(*detail_rows(report, comparisons, "ndcg")),
        "",
        "## Plots",
        "",
        "![metrics by model](metrics.png)",
        "",
        "![NDCG@K for K = 1..50](ndcg_at_k.png)",
        "",
        "![coverage vs NDCG](coverage_vs_ndcg.png)",
        "",
        "## Definitions",
        "",
        *(f"- **{LABELS.get(key, key)}**: {text}" for key, text in DEFINITIONS.items()),
    ]
    notes = [*report.notes, *(f"{r.model_type}: {n}" for r in report.runs for n in r.notes)]
    if notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def to_json(
    report: EvaluationReport, comparisons: dict[str, dict[str, PairedComparison]]
) -> dict[str, Any]:
    """Everything in the report, machine-readable (per-model params and the split's stats)."""
    models: dict[str, Any] = {}
    for run in report.runs:
        n_users = int(run.users.shape[0])
        models[run.model_type] = {
            "params": run.params,
            "weighting": run.weighting,
            "fit_seconds": round(run.fit_seconds, 4),
            "eval_seconds": round(run.eval_seconds, 4),
            "users_per_second": round(n_users / run.eval_seconds, 1) if run.eval_seconds else None,
            "n_users": n_users,
            "coverage": run.coverage,
            "metrics": {name: e.to_dict() for name, e in run.estimates().items()},
            "ndcg_curve": {
                "k": list(range(1, CURVE_K + 1)),
                "mean": run.ndcg_curve.tolist(),
                "half_width": run.ndcg_curve_half_width.tolist(),
            },
            "vs_reference": {
                name: c.to_dict() for name, c in comparisons.get(run.model_type, {}).items()
            },
            "notes": run.notes,
        }
    return {
        "dataset": report.dataset,
        "protocol": report.protocol,
        "k": report.k,
        "seed": report.seed,
        "reference": report.reference,
        "created_at": report.created_at,
        "command": report.command,
        "data_fingerprint": report.data_fingerprint,
        "split": report.split,
        "definitions": DEFINITIONS,
        "models": models,
        "notes": report.notes,
    }


# -- plots --------------------------------------------------------------------------------------


def plot_metrics(report: EvaluationReport, path: Path) -> None:
    """Grouped bars of each accuracy metric by model with 95% CI error bars (AUC on its own)."""
    fig = _figure(10.0, 4.5)
    left, right = fig.subplots(1, 2, width_ratios=[len(TOP_K_PLOTTED), 1.6])
    _bars(left, report, TOP_K_PLOTTED)
    _bars(right, report, ("auc",))
    left.set_ylabel("mean over users (95% CI)")
    left.legend(fontsize="small", ncols=min(len(report.runs), 4))
    fig.suptitle(f"{report.dataset}, {report.protocol}: metrics by model")
    _save(fig, path)


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
    fig = _figure(7.5, 4.5)
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
    _save(fig, path)


def plot_coverage_vs_ndcg(report: EvaluationReport, path: Path) -> None:
    """One point per model: item coverage@K against NDCG@K (with its 95% CI)."""
    fig = _figure(6.5, 4.5)
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
    _save(fig, path)


# -- helpers ------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    # The object-oriented API on an Agg canvas: no pyplot global state, no display needed.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=90)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _split_lines(split: dict[str, Any]) -> list[str]:
    train, test = split.get("train", {}), split.get("test", {})
    rows = [
        [label, _show(train.get(key)), _show(test.get(key))]
        for label, key in (
            ("interactions", "interactions"),
            ("users", "users"),
            ("movies", "movies"),
            ("interactions per user", "mean_per_user"),
            ("from (UTC)", "from_utc"),
            ("to (UTC)", "to_utc"),
        )
    ]
    lines = _table(["", "train", "test"], rows)
    params = ", ".join(f"{key}={value}" for key, value in split.get("params", {}).items())
    lines += ["", f"Protocol options: {params or 'none'}."]
    if "cutoff_utc" in split:
        lines.append(f"Cut-off time: {split['cutoff_utc']} (test = strictly after it).")
    lines.append(
        f"Test rows dropped because the user is absent from train: "
        f"{split.get('test_rows_dropped_unknown_user', 0):,}; because the movie is: "
        f"{split.get('test_rows_dropped_unknown_movie', 0):,} "
        f"(of {split.get('test_rows_assigned', 0):,} assigned to test)."
    )
    return lines


def _show(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _difference(c: PairedComparison) -> str:
    return f"{c.mean_diff:+.4f}" + (" *" if c.significant else "")


def _p_value(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf or numpy scalars: NaN/inf become null, numpy numbers plain numbers.
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
