"""An evaluation report as text: the markdown of ``report.md`` and the JSON of ``results.json``."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.evaluation.metrics import LABELS, metric_label
from recsys.evaluation.runner import CURVE_K, PER_USER_METRICS
from recsys.evaluation.statistics import PairedComparison, format_estimate, format_p_value

if TYPE_CHECKING:
    from recsys.evaluation.report import EvaluationReport

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
                format_p_value(c.p_value),
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


def results_json(
    report: EvaluationReport, comparisons: dict[str, dict[str, PairedComparison]]
) -> str:
    """``results.json``: ``to_json`` with NaN/inf as null and numpy numbers as plain ones."""
    return json.dumps(_clean(to_json(report, comparisons)), indent=2, allow_nan=False) + "\n"


# -- helpers ------------------------------------------------------------------------------------


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
