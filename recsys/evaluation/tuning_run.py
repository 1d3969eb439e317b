"""Seeded random search of a model's hyper-parameters on validation splits carved from train.

The search never sees a split's test part: ``run_tuning`` splits the data, hands ``tune`` only
validation folds built from the train part (``Split.validation()``, nested for more folds), and
touches the test part only afterwards, and only when asked (``score_test``), to report how the
chosen parameters and the current defaults do on it. What is searched and how configurations
are drawn: ``recsys.evaluation.tuning``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from implicit.recommender_base import ModelFitError as ImplicitFitError

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.choices import MAX_FOLDS, TUNING_METRICS, check_int_option
from recsys.evaluation.experiment import seeded_params, split_options
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, make_split
from recsys.evaluation.statistics import Estimate, mean_ci
from recsys.evaluation.tuning import (
    default_params,
    describe_space,
    sample_configurations,
    search_space,
)
from recsys.evaluation.tuning_results import TestScore, Trial, TuningProgress, TuningResult
from recsys.modeling.errors import ModelError
from recsys.modeling.search import SearchSpace

# What a configuration the data cannot take raises: a parameter out of range for this data
# (ValueError, e.g. more SVD factors than items) or a diverged fit (implicit's NaN check).
_TRIAL_ERRORS = (ValueError, ModelError, ImplicitFitError)

MAX_TRIALS = 10_000


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
