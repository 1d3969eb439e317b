"""The feedback-loop simulation as files: markdown, JSON and a plot of the metrics per window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recsys.evaluation.plotting import figure, save
from recsys.evaluation.simulations.feedback_loop import FeedbackLoop

LOOP_FILES = ("feedback_loop.md", "feedback_loop.json", "feedback_loop.png")


def plot_feedback_loop(result: FeedbackLoop, path: Path) -> None:
    """HR@K, NDCG@K (95% CI bars) and coverage@K per window, one line per policy."""
    fig = figure(12.0, 4.0)
    axes = fig.subplots(1, 3)
    for policy in result.policies:
        series = result.series(policy)
        x = [step.window for step in series]
        for ax, name in zip(axes[:2], ("hr", "ndcg"), strict=True):
            estimates = [getattr(step, name) for step in series]
            ax.errorbar(
                x,
                [e.mean for e in estimates],
                yerr=[np.nan_to_num(e.half_width) for e in estimates],
                marker="o",
                capsize=3,
                label=policy,
            )
        axes[2].plot(x, [step.coverage for step in series], marker="o", label=policy)
    for ax, title in zip(axes, ("HR", "NDCG", "Coverage"), strict=True):
        ax.set_title(f"{title}@{result.k}")
        ax.set_xlabel("window scored")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{result.dataset}: retrained after each window (feedback: {result.feedback})")
    save(fig, path)


def write_feedback_loop(result: FeedbackLoop, out: Path) -> list[Path]:
    """Write ``LOOP_FILES`` into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in LOOP_FILES]
    paths[0].write_text(result.to_markdown(), encoding="utf-8")
    paths[1].write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    plot_feedback_loop(result, paths[2])
    return paths
