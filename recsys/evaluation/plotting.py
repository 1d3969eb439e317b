"""Figures for the evaluation's PNG files: matplotlib's object-oriented API on an Agg canvas."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches, laid out to fit its panels."""
    # The object-oriented API on an Agg canvas: no pyplot global state, no display needed.
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` as every evaluation PNG is written (90 dpi)."""
    fig.savefig(path, dpi=90)
