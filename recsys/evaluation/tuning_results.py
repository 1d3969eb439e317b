"""What a hyper-parameter search returns: its trials, the best one, the optional test check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from recsys.evaluation.statistics import Estimate, rounded


@dataclass(frozen=True)
class Trial:
    """One configuration's validation score (mean over folds), or why it failed."""

    number: int
    # The searched values only; ``params`` is everything the model was built with.
    sampled: dict[str, Any]
    params: dict[str, Any]
    value: float
    # Pooled per-user values of all folds: mean and 95% CI.
    estimate: Estimate | None
    fold_values: list[float]
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the trial fitted and scored on every fold."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "number": self.number,
            "sampled": self.sampled,
            "params": self.params,
            "value": rounded(self.value),
            "estimate": self.estimate.to_dict() if self.estimate is not None else None,
            "fold_values": [rounded(v) for v in self.fold_values],
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class TestScore:
    """The metric on the test part for the chosen parameters and for the defaults."""

    best: Estimate
    defaults: Estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"best": self.best.to_dict(), "defaults": self.defaults.to_dict()}


@dataclass(frozen=True)
class TuningResult:
    """A finished search: the space, every trial, the best one, and optionally the test check."""

    model_type: str
    metric: str
    k: int
    seed: int
    protocol: str
    space: dict[str, dict[str, Any]]
    defaults: dict[str, Any]
    trials: list[Trial]
    # Sizes of each validation fold (train/test rows, users), from Split.stats().
    folds: list[dict[str, Any]]
    dataset: str = ""
    data_fingerprint: str = ""
    command: str = ""
    created_at: str = ""
    test: TestScore | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        """The successful trial with the highest validation value (earliest on ties)."""
        ok = [trial for trial in self.trials if trial.ok]
        if not ok:
            first = self.trials[0].error if self.trials else "no trials were run"
            raise ValueError(f"every {self.model_type} trial failed; the first: {first}")
        return max(ok, key=lambda trial: (trial.value, -trial.number))

    @property
    def baseline(self) -> Trial | None:
        """Trial 0 when it holds the defaults (``tune`` always runs them first)."""
        if self.trials and self.trials[0].params == self.defaults:
            return self.trials[0]
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``--out`` writes)."""
        best = self.best
        baseline = self.baseline
        return {
            "model_type": self.model_type,
            "dataset": self.dataset,
            "data_fingerprint": self.data_fingerprint,
            "protocol": self.protocol,
            "metric": self.metric,
            "k": self.k,
            "seed": self.seed,
            "command": self.command,
            "created_at": self.created_at,
            "search": "seeded random search; trial 0 is the defaults",
            "space": self.space,
            "defaults": self.defaults,
            "folds": self.folds,
            "best": {
                "number": best.number,
                "sampled": best.sampled,
                "params": best.params,
                "validation": rounded(best.value),
                "validation_estimate": best.estimate.to_dict() if best.estimate else None,
            },
            "defaults_validation": rounded(baseline.value) if baseline else None,
            "test": self.test.to_dict() if self.test is not None else None,
            "total_seconds": round(sum(trial.seconds for trial in self.trials), 3),
            "trials": [trial.to_dict() for trial in self.trials],
            "notes": self.notes,
        }


class TuningProgress(Protocol):
    """What a search reports while it runs."""

    def trial_started(self, number: int, total: int, sampled: Mapping[str, Any]) -> None:
        """Trial ``number`` (of ``total``) with these searched values starts."""

    def trial_finished(self, trial: Trial) -> None:
        """A trial is scored (or failed)."""
