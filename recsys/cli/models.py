"""``recsys train`` and ``recsys predict``: fit a model into the artifact store, query it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import (
    artifact_store,
    bad_parameter,
    database_errors,
    fail,
    known_model_type,
    known_version,
    load_settings,
)
from recsys.cli._filters import (
    Diversify,
    Exclude,
    ExcludeGenres,
    Genres,
    Only,
    YearMax,
    YearMin,
    filter_options,
    refuse,
)
from recsys.cli._predict_all import predict_all
from recsys.service.choices import ENGINES, MODEL_TYPES, WEIGHTING_KINDS, check_engine

# The models, the database layer and the recommender are imported when a command runs, so that
# `recsys --help` does not pay for implicit, scipy, pandas and SQLAlchemy.
if TYPE_CHECKING:
    from recsys.service.artifacts import ArtifactStore
    from recsys.service.choices import WeightingKind
    from recsys.service.filters import FilterRequest
    from recsys.service.recommend import Recommendations
    from recsys.service.registry import LoadedModel
    from recsys.service.spark_training import SparkOptions
    from recsys.service.training import TrainReport
    from recsys.settings import Settings

_out = Console()
_MODEL_HELP = f"Model type: {', '.join(sorted(MODEL_TYPES))}."
# Read, build the matrix, fit, write: the stages the progress bar advances through.
_STAGES = 4


def train_command(
    model_type: Annotated[str, typer.Option("--model-type", "-m", help=_MODEL_HELP)] = "als",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Model parameter KEY=VALUE, repeatable (e.g. -p factors=128 -p iterations=20).",
        ),
    ] = None,
    weighting: Annotated[
        str | None,
        typer.Option(help=f"Rating weighting: {', '.join(WEIGHTING_KINDS)} (default per model)."),
    ] = None,
    bucket_name: Annotated[
        str | None, typer.Option(help="Write to gs://BUCKET instead of RECSYS_ARTIFACT_URI.")
    ] = None,
    artifact_uri: Annotated[
        str | None, typer.Option(help="Artifact store URI (default: RECSYS_ARTIFACT_URI).")
    ] = None,
    keep: Annotated[
        int, typer.Option(min=1, help="Versions of this model type to keep (newest first).")
    ] = 5,
    engine: Annotated[
        str,
        typer.Option(
            help=f"What fits the model: {', '.join(ENGINES)}. spark fits als with pyspark's "
            "ALS on RECSYS_SPARK_MASTER (default local[*]) and stores the same als artifact "
            "(needs the spark group: uv sync --frozen --inexact --group spark, and Java 17)."
        ),
    ] = "implicit",
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="--engine spark: a Spark setting KEY=VALUE, repeatable, over RECSYS_SPARK_CONF "
            "(e.g. --spark-conf spark.driver.memory=4g).",
        ),
    ] = None,
    export_uri: Annotated[
        str | None,
        typer.Option(
            help="--engine spark: where the Parquet export goes (file:///abs or gs://bucket/"
            "prefix; default: the artifact store, under spark-exports/).",
        ),
    ] = None,
    keep_export: Annotated[
        bool, typer.Option(help="--engine spark: keep the Parquet export after the fit.")
    ] = False,
) -> None:
    """Read every rating from the database, fit a model and store a new artifact version."""
    # Before any heavy import: a mistyped model type is refused at once.
    known_model_type(model_type)
    try:
        chosen = check_engine(engine, model_type)
    except ValueError as exc:
        bad_parameter("--engine", str(exc))
    if chosen == "implicit" and (spark_conf or export_uri or keep_export):
        bad_parameter(
            "--spark-conf/--export-uri/--keep-export", "these go with --engine spark only"
        )
    params = _parse_params(model_type, param or [])
    weighting_kind = _weighting_kind(weighting)
    extra_conf = _parse_spark_conf(spark_conf or [])

    import asyncio

    from recsys.service.artifacts import ArtifactError
    from recsys.service.errors import NoInteractionsError

    settings = load_settings()
    store = artifact_store(bucket_name=bucket_name, artifact_uri=artifact_uri, settings=settings)
    spark = None
    if chosen == "spark":
        spark = _spark_options(settings, extra_conf, export_uri, keep_export=keep_export)
    with database_errors(settings.database_url):
        try:
            report = asyncio.run(
                _train(settings, model_type, store, params, weighting_kind, keep, spark)
            )
        except (NoInteractionsError, ArtifactError, ValueError) as exc:
            fail(str(exc))
    _print_train_report(report)


def _parse_spark_conf(pairs: list[str]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().startswith("spark."):
            bad_parameter("--spark-conf", f"takes spark.KEY=VALUE, got {pair!r}")
        conf[key.strip()] = value
    return conf


def _spark_options(
    settings: Settings, conf: dict[str, str], export_uri: str | None, *, keep_export: bool
) -> SparkOptions:
    # pyspark and Java are checked before the database is read: a missing one costs nothing.
    from recsys.service.artifacts import open_store
    from recsys.service.spark_training import SparkOptions, SparkUnavailableError, check_spark

    try:
        check_spark()
    except SparkUnavailableError as exc:
        fail(str(exc))
    export_store = None
    if export_uri is not None:
        try:
            export_store = open_store(export_uri)
        except ValueError as exc:
            bad_parameter("--export-uri", str(exc))
    return SparkOptions(
        master=settings.spark_master,
        conf={**settings.spark_conf, **conf},
        export_store=export_store,
        keep_export=keep_export,
    )


def predict_command(
    user_id: Annotated[
        int | None, typer.Argument(help="The user to recommend for (or --all).")
    ] = None,
    model_type: Annotated[str, typer.Option("--model-type", "-m", help=_MODEL_HELP)] = "als",
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="How many movies.")] = 10,
    bucket_name: Annotated[
        str | None, typer.Option(help="Read from gs://BUCKET instead of RECSYS_ARTIFACT_URI.")
    ] = None,
    artifact_uri: Annotated[
        str | None, typer.Option(help="Artifact store URI (default: RECSYS_ARTIFACT_URI).")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Artifact version (default: the LATEST one).")
    ] = None,
    all_users: Annotated[
        bool,
        typer.Option(
            "--all", help="Every user with ratings: top-k into --out (user_id,movie_id,rank,score)."
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV file for --all.")] = None,
    genres: Genres = None,
    exclude_genres: ExcludeGenres = None,
    year_min: YearMin = None,
    year_max: YearMax = None,
    exclude: Exclude = None,
    only: Only = None,
    diversify: Diversify = None,
) -> None:
    """Print a user's top-k unrated movies with titles and genres, or write every user's (--all).

    The filters are the API's (genres, years, exclude / allow lists, diversify), applied inside
    the ranking: k movies whenever k are eligible.
    """
    target = _predict_target(user_id, all_users=all_users, out=out)
    known_model_type(model_type)
    if version is not None:
        known_version(version, parameter="--version")
    filters = filter_options(
        genres=genres,
        exclude_genres=exclude_genres,
        year_min=year_min,
        year_max=year_max,
        exclude=exclude,
        only=only,
        diversify=diversify,
    )

    import asyncio

    from recsys.service.errors import ServiceError

    settings = load_settings()
    store = artifact_store(bucket_name=bucket_name, artifact_uri=artifact_uri, settings=settings)
    from recsys.service.filters import InvalidFilterError

    models = _load_models(store, model_type, version)
    try:
        if isinstance(target, Path):
            predict_all(settings, models, model_type, k, target, filters)
            return
        with database_errors(settings.database_url):
            try:
                result = asyncio.run(_recommend(settings, models, target, model_type, k, filters))
            except InvalidFilterError:
                raise
            except ServiceError as exc:
                fail(str(exc))
    except InvalidFilterError as exc:
        refuse(exc)
    _print_recommendations(result)


async def _train(
    settings: Settings,
    model_type: str,
    store: ArtifactStore,
    params: dict[str, Any],
    weighting: WeightingKind | None,
    keep: int,
    spark: SparkOptions | None = None,
) -> TrainReport:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from recsys.service.runtime import open_runtime
    from recsys.service.spark_training import SPARK_STAGES, train_spark
    from recsys.service.training import train

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    async with open_runtime(settings) as runtime:
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            stages = _STAGES if spark is None else SPARK_STAGES
            task = progress.add_task(f"training {model_type}", total=stages)
            started = [0]

            def stage(message: str) -> None:
                # Each call starts a stage: the bar shows how many are finished.
                progress.update(task, description=message, completed=started[0])
                started[0] += 1

            if spark is not None:
                return await train_spark(
                    runtime.read_sessions,
                    store=store,
                    params=params,
                    weighting=weighting,
                    keep=keep,
                    spark=spark,
                    stage=stage,
                    weights=runtime.weights,
                )
            return await train(
                runtime.read_sessions,
                model_type=model_type,
                store=store,
                params=params,
                weighting=weighting,
                keep=keep,
                stage=stage,
                weights=runtime.weights,
            )


async def _recommend(
    settings: Settings,
    models: dict[str, LoadedModel],
    user_id: int,
    model_type: str,
    k: int,
    filters: FilterRequest | None,
) -> Recommendations:
    from recsys.service.registry import ModelRegistry
    from recsys.service.runtime import open_runtime

    async with (
        open_runtime(settings, registry=ModelRegistry.of(models)) as runtime,
        runtime.read_sessions() as session,
    ):
        return await runtime.service.recommend(
            session, user_id, model_type=model_type, k=k, filters=filters
        )


def _predict_target(user_id: int | None, *, all_users: bool, out: Path | None) -> int | Path:
    # Exactly one of USER_ID and --all; --out goes with --all. The user id, or the CSV path.
    if user_id is not None and all_users:
        fail("give a USER_ID or --all, not both")
    if user_id is None and not all_users:
        fail("give a USER_ID, or --all --out FILE for every user")
    if all_users and out is None:
        fail("--all needs --out FILE")
    if out is not None and not all_users:
        fail("--out goes with --all")
    return out if out is not None else cast(int, user_id)


def _load_models(
    store: ArtifactStore, model_type: str, version: str | None
) -> dict[str, LoadedModel]:
    from recsys.service.artifacts import ArtifactError, load_for_prediction

    try:
        return load_for_prediction(store, model_type, version)
    except ArtifactError as exc:
        fail(str(exc))


def _parse_params(model_type: str, pairs: list[str]) -> dict[str, Any]:
    from recsys.service.params import check_params

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--param takes KEY=VALUE, got {pair!r}")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw  # a bare word such as similarity=bm25
    try:
        check_params(model_type, params)
    except (TypeError, ValueError) as exc:
        fail(str(exc))
    return params


def _weighting_kind(weighting: str | None) -> WeightingKind | None:
    if weighting is not None and weighting not in WEIGHTING_KINDS:
        bad_parameter("--weighting", f"{weighting!r} is not one of {', '.join(WEIGHTING_KINDS)}")
    return cast("WeightingKind | None", weighting)


def _print_train_report(report: TrainReport) -> None:
    info = report.artifact
    table = Table(title=f"trained {info.model_type}", show_header=False, title_justify="left")
    table.add_row("version", info.version)
    table.add_row("artifact", info.uri)
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("users x movies", f"{report.n_users:,} x {report.n_items:,}")
    table.add_row("engine", report.engine)
    table.add_row("read", f"{report.read_seconds:.2f} s")
    if report.engine == "spark":
        table.add_row("export", f"{report.export_seconds:.2f} s")
    table.add_row("fit", f"{report.fit_seconds:.2f} s")
    table.add_row("write", f"{report.write_seconds:.2f} s")
    if report.pruned:
        table.add_row("pruned", ", ".join(report.pruned))
    _out.print(table)


def _print_recommendations(result: Recommendations) -> None:
    note = (
        " (popularity fallback: the model has no history for this user)" if result.fallback else ""
    )
    if result.eligible is not None:
        note += f"; {len(result.movies)} of {result.eligible} eligible"
    table = Table(
        title=f"user {result.user_id}: top {len(result.movies)} from {result.model} "
        f"{result.model_version}{note}",
        title_justify="left",
    )
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column("title")
    table.add_column("year", justify="right")
    table.add_column("genres")
    table.add_column("score", justify="right")
    for rank, movie in enumerate(result.movies, start=1):
        table.add_row(
            str(rank),
            str(movie.id),
            movie.title,
            "" if movie.year is None else str(movie.year),
            ", ".join(movie.genres),
            f"{movie.score:.4f}",
        )
    _out.print(table)
