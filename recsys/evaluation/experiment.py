"""One evaluation run: split, fit every model on the train part, score the test users."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.choices import RANDOM, TEMPORAL
from recsys.evaluation.report import EvaluationReport
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import make_split
from recsys.modeling.items import ItemAttributes
from recsys.modeling.registry import model_class

# Parameter names through which a model takes its random seed.
SEED_PARAMS = ("random_state", "seed")


class EvalProgress(Protocol):
    """What an evaluation reports while it runs (a progress bar, a log, or nothing)."""

    def fitting(self, model_type: str) -> None:
        """Training ``model_type`` starts."""

    def evaluating(self, model_type: str, users: int) -> None:
        """Scoring ``users`` test users with ``model_type`` starts."""

    def advance(self, users: int) -> None:
        """``users`` more users are scored."""


def split_options(protocol: str, *, seed: int, test_fraction: float) -> dict[str, Any]:
    """The options ``make_split`` takes for ``protocol`` from the run's seed and fraction."""
    if protocol == RANDOM:
        return {"test_fraction": test_fraction, "seed": seed}
    if protocol == TEMPORAL:
        return {"test_fraction": test_fraction}
    return {}  # leave-last-out takes none; make_split names an unknown protocol


def seeded_params(model_type: str, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
    """``params`` plus the run's seed under the model's seed parameter, unless one is given."""
    names = {f.name for f in dataclasses.fields(model_class(model_type).params_type)}  # type: ignore[arg-type]
    out = dict(params)
    for name in SEED_PARAMS:
        if name in names and name not in out:
            out[name] = seed
    return out


def run_evaluation(
    interactions: Interactions,
    *,
    dataset: str,
    protocol: str,
    model_types: Sequence[str],
    k: int = 10,
    seed: int = 42,
    test_fraction: float = 0.2,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    reference: str = "popularity",
    with_auc: bool = True,
    command: str = "",
    progress: EvalProgress | None = None,
    items: ItemAttributes | None = None,
    diversify: float = 0.0,
) -> EvaluationReport:
    """Split ``interactions``, fit and evaluate each model type; the reference is included.

    ``items`` (movie years and genres) go to every model; those that read them need them.
    """
    types = list(dict.fromkeys(model_types))
    for model_type in types:
        model_class(model_type)
    model_class(reference)
    notes = []
    if reference not in types:
        types.append(reference)
        notes.append(f"{reference} was added as the reference of the paired comparison")
    split = make_split(
        interactions,
        protocol=protocol,
        **split_options(protocol, seed=seed, test_fraction=test_fraction),
    )
    data = EvalData.from_split(split, items)
    runs = []
    for model_type in types:
        model_params = seeded_params(model_type, (params or {}).get(model_type, {}), seed=seed)
        if progress is not None:
            progress.fitting(model_type)
        model, fit_seconds = fit_model(model_type, split.train, params=model_params, items=items)
        if progress is not None:
            progress.evaluating(model_type, int(data.users.shape[0]))
        runs.append(
            evaluate_model(
                model,
                data,
                k=k,
                with_auc=with_auc,
                fit_seconds=fit_seconds,
                advance=progress.advance if progress is not None else None,
                diversify=diversify,
            )
        )
    return EvaluationReport(
        dataset=dataset,
        protocol=protocol,
        split=split.stats(),
        k=k,
        seed=seed,
        reference=reference,
        runs=runs,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        data_fingerprint=interactions_fingerprint(interactions),
        notes=notes,
    )
