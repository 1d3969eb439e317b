"""``recsys evaluate``: split a dataset, train every model on the train part, write a report."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import fail, load_settings
from recsys.service.choices import (
    MODEL_TYPES,
    PROTOCOLS,
    UnknownModelTypeError,
    check_model_type,
    missing_package,
    trainable_model_types,
)

# The evaluation and model packages (scipy, pandas, implicit, ...) are imported when the
# command runs, so that `recsys --help` does not pay for them.
if TYPE_CHECKING:
    from rich.progress import TaskID

    from recsys.service.evaluation import EvaluationReport

_out = Console()
# The metrics of the terminal table (report.md has them all).
_SHOWN = ("hr", "recall", "ndcg", "mrr", "auc")


def evaluate_command(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", "-d", help="Dataset folder under --data-dir (default: RECSYS_DATASET)."
        ),
    ] = None,
    protocol: Annotated[
        str, typer.Option(help=f"Split protocol: {', '.join(PROTOCOLS)}.")
    ] = "leave-last-out",
    models: Annotated[
        str,
        typer.Option(
            "--models",
            "-m",
            help=f"'all' or comma-separated model types ({', '.join(sorted(MODEL_TYPES))}).",
        ),
    ] = "all",
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Cut-off K.")] = 10,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report folder (default: reports/DATASET-PROTOCOL)."),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(min=0, help="Seed of the random split and of every seeded model."),
    ] = 42,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Model parameter MODEL.KEY=VALUE, repeatable (e.g. -p als.factors=128).",
        ),
    ] = None,
    test_fraction: Annotated[
        float,
        typer.Option(min=0.01, max=0.99, help="Test share of the temporal and random protocols."),
    ] = 0.2,
    reference: Annotated[
        str, typer.Option(help="Model every other one is compared with, user by user.")
    ] = "popularity",
    auc: Annotated[
        bool, typer.Option("--auc/--no-auc", help="Rank all candidates to compute AUC.")
    ] = True,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where datasets live (default: RECSYS_DATA_DIR).")
    ] = None,
    diversify: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Re-rank every model's top-K by MMR over genres (0..1, as the API's "
            "diversify; 0 = off). ILD@K and GenreCov@K measure the effect.",
        ),
    ] = 0.0,
) -> None:
    """Split a dataset, train each model on the train part and report full-ranking metrics.

    No database needed: reads the dataset files; writes report.md, results.json, PNG plots.
    """
    from recsys.service.datasets import DatasetError, DatasetNotFoundError
    from recsys.service.evaluation import load_for_evaluation, run_evaluation, write_report

    if protocol not in PROTOCOLS:
        fail(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    model_types = _model_types(models)
    _known(reference)
    params = _parse_params(param or [], model_types)
    settings = load_settings()
    name = dataset or settings.dataset
    folder = (data_dir or settings.data_dir) / name
    target = out or Path("reports") / f"{name}-{protocol}"
    try:
        interactions, items = load_for_evaluation(folder, name=name)
    except (DatasetNotFoundError, DatasetError) as exc:
        fail(str(exc))
    command = _command(
        name, protocol, models, k, target, seed, param or [], test_fraction, reference, auc
    )
    if diversify > 0:
        command += f" --diversify {diversify:g}"
    if data_dir is not None:
        command += " " + shlex.join(["--data-dir", str(data_dir)])
    try:
        with _BarProgress() as progress:
            report = run_evaluation(
                interactions,
                dataset=name,
                protocol=protocol,
                model_types=model_types,
                k=k,
                seed=seed,
                test_fraction=test_fraction,
                params=params,
                reference=reference,
                with_auc=auc,
                command=command,
                progress=progress,
                items=items,
                diversify=diversify,
            )
    except ValueError as exc:
        fail(str(exc))
    paths = write_report(report, target)
    _print_summary(report, paths)


class _BarProgress:
    """One rich progress bar per model: a spinner while fitting, users scored while evaluating."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _BarProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self._progress.stop()

    def fitting(self, model_type: str) -> None:
        self._finish()
        self._task = self._progress.add_task(f"{model_type}: fitting", total=None)

    def evaluating(self, model_type: str, users: int) -> None:
        if self._task is not None:
            self._progress.update(
                self._task, description=f"{model_type}: evaluating", total=users, completed=0
            )

    def advance(self, users: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, users)

    def _finish(self) -> None:
        if self._task is not None:
            task = next(t for t in self._progress.tasks if t.id == self._task)
            description = task.description.replace("evaluating", "done")
            self._progress.update(self._task, description=description)
            self._progress.stop_task(self._task)
            self._task = None


def _model_types(models: str) -> list[str]:
    names = [part.strip() for part in models.split(",") if part.strip()]
    if names == ["all"]:
        # Registration order, not the help's sorted copy; a type whose optional package is
        # missing is left out with a line saying what to install (asked for by name, it fails).
        for name in MODEL_TYPES:
            hint = missing_package(name)
            if hint is not None:
                Console(stderr=True).print(f"{name} left out of 'all': {hint}")
        return list(trainable_model_types())
    if not names or "all" in names:
        fail(f"--models takes 'all' or model types separated by commas, got {models!r}")
    for name in names:
        _known(name)
    return list(dict.fromkeys(names))


def _known(model_type: str) -> None:
    try:
        check_model_type(model_type)
    except UnknownModelTypeError as exc:
        fail(str(exc))
    hint = missing_package(model_type)
    if hint is not None:
        fail(hint)


def _parse_params(pairs: list[str], model_types: list[str]) -> dict[str, dict[str, Any]]:
    from recsys.service.params import check_params

    params: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        model_type, dot, name = key.strip().partition(".")
        if not sep or not dot or not model_type or not name:
            fail(f"--param takes MODEL.KEY=VALUE (e.g. als.factors=128), got {pair!r}")
        if model_type not in model_types:
            _known(model_type)
            fail(f"--param {pair!r} is for {model_type}, which --models does not evaluate")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word such as similarity=bm25
        params.setdefault(model_type, {})[name] = value
    for model_type, values in params.items():
        try:
            check_params(model_type, values)
        except (TypeError, ValueError) as exc:
            fail(str(exc))
    return params


def _command(
    name: str,
    protocol: str,
    models: str,
    k: int,
    out: Path,
    seed: int,
    params: list[str],
    test_fraction: float,
    reference: str,
    auc: bool,
) -> str:
    # The command that reproduces this run (recorded in the report).
    args = ["recsys", "evaluate", "--dataset", name, "--protocol", protocol, "--models", models]
    args += ["-k", str(k), "--out", str(out), "--seed", str(seed)]
    for pair in params:
        args += ["-p", pair]
    if protocol != "leave-last-out" and test_fraction != 0.2:
        args += ["--test-fraction", f"{test_fraction:g}"]
    if reference != "popularity":
        args += ["--reference", reference]
    if not auc:
        args.append("--no-auc")
    return shlex.join(args)


def _print_summary(report: EvaluationReport, paths: list[Path]) -> None:
    from recsys.service.evaluation import metric_label

    n_users = report.runs[0].users.shape[0] if report.runs else 0
    table = Table(
        title=f"{report.dataset}, {report.protocol}: {n_users:,} test users, K = {report.k} "
        "(mean ± 95% CI; everything in report.md)",
        title_justify="left",
    )
    table.add_column("model")
    for name in _SHOWN:
        table.add_column(metric_label(name, report.k), justify="right")
    for column in (f"Cov@{report.k}", "fit s", "eval s"):
        table.add_column(column, justify="right")
    for run in report.runs:
        estimates = run.estimates()
        cells = [
            f"{e.mean:.3f}\n±{e.half_width:.3f}" if e.n > 1 else f"{e.mean:.3f}"
            for e in (estimates[name] for name in _SHOWN)
        ]
        table.add_row(
            run.model_type,
            *cells,
            f"{run.coverage:.3f}",
            f"{run.fit_seconds:.1f}",
            f"{run.eval_seconds:.1f}",
        )
    _out.print(table)
    better = [
        model_type
        for model_type, by_metric in report.comparisons().items()
        if by_metric["ndcg"].significant and by_metric["ndcg"].mean_diff > 0
    ]
    _out.print(
        f"significantly better {metric_label('ndcg', report.k)} than {report.reference}: "
        + (", ".join(better) or "none"),
        highlight=False,
        soft_wrap=True,
    )
    _out.print(f"wrote {', '.join(str(path) for path in paths)}", highlight=False, soft_wrap=True)
