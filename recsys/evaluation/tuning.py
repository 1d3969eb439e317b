"""Seeded random search of a model's hyper-parameters on validation splits carved from train.

The search never sees a split's test part: ``run_tuning`` splits the data, hands ``tune`` only
validation folds built from the train part (``Split.validation()``, nested for more folds), and
touches the test part only afterwards, and only when asked (``score_test``), to report how the
chosen parameters and the current defaults do on it.

Random search rather than a sequential optimiser (optuna's TPE): the spaces have one to four
dimensions, a trial costs about a second on ML-100K, and the validation metric's own noise
(NDCG@10 ± 0.01 over ~940 users) is larger than what a smarter sampler would gain; a seeded
draw is reproducible, dependency-free and easy to describe in the report.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from implicit.recommender_base import ModelFitError as ImplicitFitError

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.choices import MAX_FOLDS, TUNING_METRICS
from recsys.evaluation.experiment import seeded_params, split_options
from recsys.evaluation.metrics import Estimate, mean_ci
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, make_split
from recsys.modeling.errors import ModelError
from recsys.modeling.registry import model_class

# What a configuration the data cannot take raises: a parameter out of range for this data
# (ValueError, e.g. more SVD factors than items) or a diverged fit (implicit's NaN check).
_TRIAL_ERRORS = (ValueError, ModelError, ImplicitFitError)

MAX_TRIALS = 10_000
# Draws tried for a configuration not seen before, before the space counts as exhausted.
_FRESH_DRAWS = 200


# -- search spaces ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values, each equally likely."""

    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        """One value."""
        return self.values[int(rng.integers(len(self.values)))]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"choice": list(self.values)}


@dataclass(frozen=True)
class LogUniform:
    """A number whose logarithm is uniform in [log low, log high]; integers are rounded."""

    low: float
    high: float
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> float | int:
        """One value (floats kept to 3 significant digits, so defaults stay readable)."""
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.integer:
            return int(min(max(round(value), self.low), self.high))
        return _three_digits(value)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"log_uniform": [self.low, self.high], "integer": self.integer}


@dataclass(frozen=True)
class Uniform:
    """A number uniform in [low, high] (3 significant digits)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        """One value."""
        return _three_digits(rng.uniform(self.low, self.high))

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"uniform": [self.low, self.high]}


Dimension = Choice | LogUniform | Uniform
SearchSpace = Mapping[str, Dimension]

# Smallest neighbourhood the item-item models may ship with. Only the k strongest neighbours
# of a movie can ever be recommended from it: with fewer than 20, a user with one or two rated
# movies gets a short top 10, and /movies/{id}/similar?k=10 fewer than 10 movies. (On ML-100K
# leave-last-out, 6-10 neighbours scored best: reports/tuning/README.md.)
_MIN_NEIGHBOURS = 20

# What each tunable model type searches over; seeds and resource limits (random_state,
# num_threads, max_items) are fixed, not tuned. Ranges span the values the literature and
# implicit's examples use, widened by a factor of a few on each side.
SEARCH_SPACES: Mapping[str, SearchSpace] = {
    "als": {
        "factors": Choice((16, 32, 64, 128, 192, 256)),
        "regularization": LogUniform(1e-3, 10.0),
        # Multiplies the 1 + rating confidence weights (2..6 on 1-5 stars). From 0.5 up, so
        # that a rated movie never weighs less than an unrated one (confidence 1), the premise
        # of Hu, Koren & Volinsky's model; below it the fit inverts that premise.
        "alpha": LogUniform(0.5, 50.0),
        "iterations": Choice((10, 15, 20, 30)),
    },
    "bpr": {
        # Capped at 128 factors and 200 epochs: single-threaded SGD (for reproducibility)
        # makes larger trials cost 10-20 s each on ML-100K.
        "factors": Choice((32, 64, 128)),
        "learning_rate": LogUniform(0.003, 0.3),
        "regularization": LogUniform(1e-4, 0.3),
        "iterations": Choice((50, 100, 200)),
    },
    "ease": {"l2": LogUniform(10.0, 5000.0)},
    "svd": {"factors": LogUniform(4, 400, integer=True)},
    "item_knn": {
        "similarity": Choice(("cosine", "bm25", "itemitem")),
        "k": LogUniform(_MIN_NEIGHBOURS, 1000, integer=True),
        "bm25_k1": LogUniform(0.1, 10.0),
        "bm25_b": Uniform(0.0, 1.0),
    },
    "cooccurrence": {
        "normalize": Choice(("none", "jaccard")),
        "k": LogUniform(_MIN_NEIGHBOURS, 1000, integer=True),
    },
}


def search_space(model_type: str) -> SearchSpace:
    """The search space of ``model_type``; ``ValueError`` names the tunable ones."""
    model_class(model_type)
    try:
        return SEARCH_SPACES[model_type]
    except KeyError:
        raise ValueError(
            f"{model_type} has no hyper-parameters to tune; tunable model types: "
            f"{', '.join(sorted(SEARCH_SPACES))}"
        ) from None


def describe_space(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """JSON-ready description of a search space."""
    return {name: dimension.describe() for name, dimension in space.items()}


def default_params(model_type: str) -> dict[str, Any]:
    """The shipped defaults of ``model_type`` (its params dataclass with no arguments)."""
    return model_class(model_type).params_type().to_dict()


def sample_configurations(
    space: SearchSpace, *, n: int, seed: int, first: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``n`` distinct configurations drawn with ``seed`` (``first``, if given, leads).

    Fewer come back when a small discrete space runs out of new configurations.
    """
    rng = np.random.default_rng(seed)
    names = sorted(space)
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    if first is not None:
        out.append({name: first[name] for name in names})
        seen.add(tuple(first[name] for name in names))
    while len(out) < n:
        for _ in range(_FRESH_DRAWS):
            draw = {name: space[name].sample(rng) for name in names}
            key = tuple(draw.values())
            if key not in seen:
                break
        else:
            return out
        seen.add(key)
        out.append(draw)
    return out


# -- results ------------------------------------------------------------------------------------


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
            "value": _number(self.value),
            "estimate": self.estimate.to_dict() if self.estimate is not None else None,
            "fold_values": [_number(v) for v in self.fold_values],
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
                "validation": _number(best.value),
                "validation_estimate": best.estimate.to_dict() if best.estimate else None,
            },
            "defaults_validation": _number(baseline.value) if baseline else None,
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


# -- the search ---------------------------------------------------------------------------------


def validation_folds(split: Split, *, folds: int = 1) -> list[Split]:
    """``folds`` validation splits, each carved out of the previous one's train part.

    Fold 1 is ``split.validation()``; fold 2 the same protocol applied to fold 1's train part,
    and so on (for leave-last-out: each user's last, second-to-last, ... train interaction).
    All lie inside ``split.train``; none holds a row of ``split.test``.
    """
    check_int_option("folds", folds, low=1, high=MAX_FOLDS)
    out = [split.validation()]
    while len(out) < folds:
        out.append(out[-1].validation())
    return out


def tune(
    folds: Sequence[Split],
    *,
    model_type: str,
    trials: int,
    metric: str = "ndcg",
    k: int = 10,
    seed: int = 42,
    space: SearchSpace | None = None,
    progress: TuningProgress | None = None,
) -> TuningResult:
    """Score ``trials`` configurations on the validation ``folds`` (trial 0: the defaults).

    Every trial fits on each fold's train part and ranks that fold's held-out items; its value
    is the mean of the per-fold means of ``metric`` at ``k``. Models take ``seed`` as their
    random state; configurations are drawn with ``seed`` too, so a run is reproducible.
    """
    space = space if space is not None else search_space(model_type)
    check_int_option("trials", trials, low=1, high=MAX_TRIALS)
    check_int_option("k", k, low=1, high=1000)
    if metric not in TUNING_METRICS:
        raise ValueError(f"metric must be one of {', '.join(TUNING_METRICS)}, got {metric!r}")
    if not folds:
        raise ValueError("tune needs at least one validation fold")
    # The run's seed replaces the dataclass's default seed, as in ``recsys evaluate``.
    defaults = {**default_params(model_type), **seeded_params(model_type, {}, seed=seed)}
    unknown = sorted(set(space) - set(defaults))
    if unknown:
        raise ValueError(f"{model_type} has no parameter(s) {', '.join(unknown)} to search")
    data = [EvalData.from_split(fold) for fold in folds]
    configurations = sample_configurations(space, n=trials, seed=seed, first=defaults)
    results = []
    for number, sampled in enumerate(configurations):
        if progress is not None:
            progress.trial_started(number, len(configurations), sampled)
        params = {**defaults, **sampled}
        trial = _run_trial(number, sampled, params, folds, data, model_type, metric, k)
        results.append(trial)
        if progress is not None:
            progress.trial_finished(trial)
    notes = []
    if len(configurations) < trials:
        notes.append(
            f"the space holds only {len(configurations)} distinct configurations "
            f"({trials} trials were asked for)"
        )
    return TuningResult(
        model_type=model_type,
        metric=metric,
        k=k,
        seed=seed,
        protocol=folds[0].name,
        space=describe_space(space),
        defaults=defaults,
        trials=results,
        folds=[_fold_stats(fold) for fold in folds],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=notes,
    )


def run_tuning(
    interactions: Interactions,
    *,
    model_type: str,
    protocol: str,
    trials: int,
    metric: str = "ndcg",
    k: int = 10,
    seed: int = 42,
    folds: int = 1,
    test_fraction: float = 0.2,
    score_test: bool = False,
    dataset: str = "",
    command: str = "",
    progress: TuningProgress | None = None,
) -> TuningResult:
    """Split ``interactions`` as ``recsys evaluate`` does, tune on folds of the train part.

    With ``score_test``, the best parameters and the defaults are then each fitted on the whole
    train part and scored once on the test part (reported, never used to choose).
    """
    search_space(model_type)
    split = make_split(
        interactions,
        protocol=protocol,
        **split_options(protocol, seed=seed, test_fraction=test_fraction),
    )
    result = tune(
        validation_folds(split, folds=folds),
        model_type=model_type,
        trials=trials,
        metric=metric,
        k=k,
        seed=seed,
        progress=progress,
    )
    test = None
    if score_test:
        data = EvalData.from_split(split)
        test = TestScore(
            best=_score(model_type, result.best.params, split, data, metric, k),
            defaults=_score(model_type, result.defaults, split, data, metric, k),
        )
    return dataclasses.replace(
        result,
        dataset=dataset,
        data_fingerprint=interactions_fingerprint(interactions),
        command=command,
        test=test,
    )


def check_int_option(name: str, value: object, *, low: int, high: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _run_trial(
    number: int,
    sampled: dict[str, Any],
    params: dict[str, Any],
    folds: Sequence[Split],
    data: Sequence[EvalData],
    model_type: str,
    metric: str,
    k: int,
) -> Trial:
    started = time.perf_counter()
    values: list[float] = []
    pooled = []
    try:
        for fold, fold_data in zip(folds, data, strict=True):
            per_user = _per_user(model_type, params, fold.train, fold_data, metric, k)
            values.append(float(np.nanmean(per_user)))
            pooled.append(per_user)
    except _TRIAL_ERRORS as exc:
        # One configuration the data cannot take is a failed trial, not a failed search.
        return Trial(
            number,
            sampled,
            params,
            math.nan,
            None,
            values,
            time.perf_counter() - started,
            error=str(exc),
        )
    return Trial(
        number,
        sampled,
        params,
        float(np.mean(values)),
        mean_ci(np.concatenate(pooled)),
        values,
        time.perf_counter() - started,
    )


def _per_user(
    model_type: str,
    params: Mapping[str, Any],
    train: Interactions,
    data: EvalData,
    metric: str,
    k: int,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    model, fit_seconds = fit_model(model_type, train, params=params)
    run = evaluate_model(model, data, k=k, with_auc=metric == "auc", fit_seconds=fit_seconds)
    return run.per_user[metric]


def _score(
    model_type: str,
    params: Mapping[str, Any],
    split: Split,
    data: EvalData,
    metric: str,
    k: int,
) -> Estimate:
    return mean_ci(_per_user(model_type, params, split.train, data, metric, k))


def _fold_stats(fold: Split) -> dict[str, Any]:
    stats = fold.stats()
    return {
        "train_rows": stats["train"]["interactions"],
        "test_rows": stats["test"]["interactions"],
        "test_users": stats["test"]["users"],
    }


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)
