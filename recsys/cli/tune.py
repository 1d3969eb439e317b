"""``recsys tune``: random search of a model's hyper-parameters on a validation split."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import artifact_store, database_errors, fail, load_settings
from recsys.cli._dataset import DataDirOption, DatasetOption, load_interactions
from recsys.service.choices import MAX_FOLDS, MODEL_TYPES, PROTOCOLS, TUNING_METRICS

# The search (scipy, the models) and the database layer are imported when the command runs, so
# that `recsys --help` does not pay for them.
if TYPE_CHECKING:
    from recsys.service.artifacts import ArtifactStore
    from recsys.service.training import TrainReport
    from recsys.service.tuning import Trial, TuningResult
    from recsys.settings import Settings

_out = Console()


def tune_command(
    model_type: Annotated[
        str,
        typer.Option(
            "--model-type",
            "-m",
            help=f"Model to tune, one with a search space ({', '.join(sorted(MODEL_TYPES))}: "
            "a type without one is refused with the list of those that have one).",
        ),
    ] = "als",
    trials: Annotated[
        int,
        typer.Option(
            "--trials", "-n", min=1, max=10_000, help="Configurations to try (the first: defaults)."
        ),
    ] = 30,
    dataset: DatasetOption = None,
    protocol: Annotated[
        str, typer.Option(help=f"Split protocol: {', '.join(PROTOCOLS)}.")
    ] = "leave-last-out",
    metric: Annotated[
        str, typer.Option(help=f"Metric to maximise: {', '.join(TUNING_METRICS)}.")
    ] = "ndcg",
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Cut-off K.")] = 10,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the search, the random split and the models.")
    ] = 42,
    folds: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_FOLDS,
            help="Validation folds carved from the train part (more: less noise, more time).",
        ),
    ] = 1,
    test_fraction: Annotated[
        float,
        typer.Option(min=0.01, max=0.99, help="Test share of the temporal and random protocols."),
    ] = 0.2,
    score_test: Annotated[
        bool,
        typer.Option(
            "--score-test",
            help="After the search, score the best parameters and the defaults once on the "
            "test part (reported only; the search never sees it).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the whole search as JSON here.")
    ] = None,
    train_final: Annotated[
        bool,
        typer.Option(
            "--train-final",
            help="Then train the model on every rating in the database with the best "
            "parameters and store it, as `recsys train` does.",
        ),
    ] = False,
    bucket_name: Annotated[
        str | None, typer.Option(help="--train-final: write to gs://BUCKET.")
    ] = None,
    artifact_uri: Annotated[
        str | None, typer.Option(help="--train-final: artifact store URI.")
    ] = None,
    keep: Annotated[
        int, typer.Option(min=1, help="--train-final: versions of this model type to keep.")
    ] = 5,
    data_dir: DataDirOption = None,
) -> None:
    """Search hyper-parameters on a validation split carved from the train part; print the best.

    The test part is never used to choose; --score-test reports it afterwards. No database
    needed, unless --train-final.
    """
    from recsys.service.tuning import run_tuning

    _check_options(model_type, protocol, metric, train_final, bucket_name, artifact_uri)
    settings = load_settings()
    store = (
        artifact_store(bucket_name=bucket_name, artifact_uri=artifact_uri, settings=settings)
        if train_final
        else None
    )
    name, interactions = load_interactions(dataset, data_dir)
    command = _command(
        model_type, trials, name, protocol, metric, k, seed, folds, test_fraction, score_test, out
    )
    try:
        with _TrialProgress(model_type, metric, k) as progress:
            result = run_tuning(
                interactions,
                model_type=model_type,
                protocol=protocol,
                trials=trials,
                metric=metric,
                k=k,
                seed=seed,
                folds=folds,
                test_fraction=test_fraction,
                score_test=score_test,
                dataset=name,
                command=command,
                progress=progress,
            )
        best = result.best
    except ValueError as exc:
        fail(str(exc))
    _print_result(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        _out.print(f"wrote {out}", highlight=False, soft_wrap=True)
    if store is not None:
        report = _train_final(settings, store, model_type, best.params, keep)
        info = report.artifact
        _out.print(
            f"trained {info.model_type} {info.version} on {report.rows_read:,} ratings from the "
            f"database with the best parameters: {info.uri}",
            highlight=False,
            soft_wrap=True,
        )


class _TrialProgress:
    """A rich bar over trials whose label shows the best value so far."""

    def __init__(self, model_type: str, metric: str, k: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        from recsys.service.tuning import metric_label

        self._label = f"{model_type}: best {metric_label(metric, k)}"
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task(self._label, total=None)
        self._best = float("-inf")

    def __enter__(self) -> _TrialProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def trial_started(self, number: int, total: int, sampled: Mapping[str, Any]) -> None:
        self._progress.update(self._task, total=total)

    def trial_finished(self, trial: Trial) -> None:
        if trial.ok and trial.value > self._best:
            self._best = trial.value
        shown = f"{self._best:.4f}" if self._best > float("-inf") else "-"
        self._progress.update(self._task, description=f"{self._label} {shown}", advance=1)


def _check_options(
    model_type: str,
    protocol: str,
    metric: str,
    train_final: bool,
    bucket_name: str | None,
    artifact_uri: str | None,
) -> None:
    from recsys.service.tuning import search_space

    try:
        search_space(model_type)
    except ValueError as exc:
        fail(str(exc))
    if protocol not in PROTOCOLS:
        fail(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if metric not in TUNING_METRICS:
        fail(f"--metric must be one of {', '.join(TUNING_METRICS)}, got {metric!r}")
    if not train_final and (bucket_name or artifact_uri):
        fail("--bucket-name and --artifact-uri go with --train-final")


def _print_result(result: TuningResult) -> None:
    from recsys.service.tuning import format_estimate, metric_label

    label = metric_label(result.metric, result.k)
    best = result.best
    names = list(result.space)
    table = Table(
        title=f"{result.model_type} on {result.dataset or 'the data'}, {result.protocol}: "
        f"{len(result.trials)} trials, validation {label} over {len(result.folds)} fold(s) "
        "(mean ± 95% CI; * best, trial 0 = defaults)",
        title_justify="left",
    )
    table.add_column("#", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column(label, justify="right")
    table.add_column("s", justify="right")
    for trial in result.trials:
        marker = " *" if trial.number == best.number else ""
        value = (
            format_estimate(trial.estimate)
            if trial.estimate is not None
            else f"failed: {trial.error}"
        )
        table.add_row(
            f"{trial.number}{marker}",
            *(_show(trial.sampled[name]) for name in names),
            value,
            f"{trial.seconds:.1f}",
            style="bold green" if marker else None,
        )
    _out.print(table)
    chosen = ", ".join(f"{name}={_show(best.sampled[name])}" for name in names)
    line = f"best: trial {best.number}: {chosen}; validation {label} {best.value:.4f}"
    baseline = result.baseline
    if baseline is not None and baseline.ok:
        line += f" (defaults {baseline.value:.4f})"
    _out.print(line, highlight=False, soft_wrap=True)
    if result.test is not None:
        _out.print(
            f"test {label}: best {format_estimate(result.test.best)}, "
            f"defaults {format_estimate(result.test.defaults)}",
            highlight=False,
            soft_wrap=True,
        )
    for note in result.notes:
        _out.print(f"note: {note}", highlight=False, soft_wrap=True)


def _train_final(
    settings: Settings,
    store: ArtifactStore,
    model_type: str,
    params: dict[str, Any],
    keep: int,
) -> TrainReport:
    import asyncio

    from recsys.service.artifacts import ArtifactError
    from recsys.service.errors import NoInteractionsError
    from recsys.service.runtime import open_runtime
    from recsys.service.training import train

    async def run() -> TrainReport:
        async with open_runtime(settings) as runtime:
            return await train(
                runtime.read_sessions,
                model_type=model_type,
                store=store,
                params=params,
                keep=keep,
                weights=runtime.weights,
            )

    with database_errors(settings.database_url):
        try:
            return asyncio.run(run())
        except (NoInteractionsError, ArtifactError) as exc:
            fail(str(exc))


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _command(
    model_type: str,
    trials: int,
    name: str,
    protocol: str,
    metric: str,
    k: int,
    seed: int,
    folds: int,
    test_fraction: float,
    score_test: bool,
    out: Path | None,
) -> str:
    # The command that reproduces this search (recorded in the JSON).
    args = ["recsys", "tune", "--model-type", model_type, "--trials", str(trials)]
    args += ["--dataset", name, "--protocol", protocol, "--metric", metric, "-k", str(k)]
    args += ["--seed", str(seed), "--folds", str(folds)]
    if protocol != "leave-last-out" and test_fraction != 0.2:
        args += ["--test-fraction", f"{test_fraction:g}"]
    if score_test:
        args.append("--score-test")
    if out is not None:
        args += ["--out", str(out)]
    return shlex.join(args)
