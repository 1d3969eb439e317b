"""``recsys data``: fetch, generate and inspect datasets; import event logs and movies."""

from __future__ import annotations

import time
import urllib.error
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import database_errors, err_console, fail, folder_name, load_settings

# pandas, SQLAlchemy and the dataset readers are imported by the commands that use them, so
# that `recsys data --help` stays fast (tests/unit/test_cli_startup.py).
if TYPE_CHECKING:
    from recsys.service.ingestion import IdKind

app = typer.Typer(no_args_is_help=True, add_completion=False)

console = Console()


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Failures a user can act on: one red line and exit code 1, never a traceback."""
    from recsys.service.datasets import DatasetError, DatasetNotFoundError, FetchError

    return (
        DatasetError,
        DatasetNotFoundError,
        FetchError,
        urllib.error.URLError,
        TimeoutError,
        ConnectionError,
    )


DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dataset root (default: RECSYS_DATA_DIR, ./data)."),
]


def _data_dir(override: Path | None) -> Path:
    from recsys.settings import get_settings

    return override if override is not None else get_settings().data_dir


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="ml-100k, ml-1m, ml-latest-small, ml-20m, ...")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Local zip, folder or recbole-1.2.1 wheel instead of downloading."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present.")] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Skip GroupLens: ML-100K from the RecBole wheel."),
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Accept an archive whose SHA-256 differs.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Download (or copy) a dataset into DATA_DIR/NAME, verifying its pinned checksum."""
    from recsys.service.datasets import fetch_dataset

    try:
        result = fetch_dataset(
            name,
            data_dir=_data_dir(data_dir),
            source=source,
            force=force,
            offline=offline,
            verify=not no_verify,
            console=err_console,
        )
    except _expected_errors() as exc:
        fail(str(exc))
    console.print(result.message, markup=False, highlight=False)


@app.command()
def synth(
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 1_000,
    items: Annotated[int, typer.Option(min=1, help="Number of movies.")] = 500,
    interactions: Annotated[int, typer.Option(min=1, help="Distinct ratings.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    groups: Annotated[int, typer.Option(min=1, help="Latent taste groups.")] = 8,
    name: Annotated[str, typer.Option(help="Folder name under DATA_DIR.")] = "synth",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing folder.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Generate a synthetic dataset (MovieLens CSV layout) into DATA_DIR/NAME."""
    # A name, not a path: with --force the folder is replaced, so it must be DATA_DIR's own.
    folder_name(name, parameter="--name")
    from recsys.service.datasets import generate, is_present, staged_folder, write_dataset

    target = _data_dir(data_dir) / name
    if is_present(target) and not force:
        fail(f"{target} already holds a dataset (use --force to replace it)")
    try:
        dataset = generate(
            users=users,
            items=items,
            interactions=interactions,
            seed=seed,
            groups=groups,
            name=name,
        )
    except ValueError as exc:
        fail(str(exc))
    with staged_folder(target) as staging:
        write_dataset(dataset, staging)
    console.print(f"{dataset!r} written to {target}", markup=False, highlight=False)


@app.command()
def info(
    name: Annotated[
        str | None, typer.Argument(help="Dataset folder under DATA_DIR (default: RECSYS_DATASET).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Counts, density, rating distribution and date range of a dataset on disk."""
    from recsys.service.datasets import describe, detect_layout, load_dataset
    from recsys.settings import get_settings

    label = name or get_settings().dataset
    folder = _data_dir(data_dir) / label
    try:
        dataset = load_dataset(folder, name=label)
    except _expected_errors() as exc:
        fail(str(exc))
    stats = describe(dataset)
    table = Table(title=f"{label}  ({folder}, {detect_layout(folder) or 'nested'} layout)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("users", f"{stats.users:,}")
    table.add_row("movies", f"{stats.movies:,}")
    table.add_row("ratings", f"{stats.ratings:,}")
    table.add_row("density", f"{stats.density:.4%}")
    table.add_row("sparsity", f"{stats.sparsity:.4%}")
    table.add_row("mean rating", f"{stats.mean_rating:.3f}")
    table.add_row("ratings per user (mean)", f"{stats.mean_per_user:,.1f}")
    table.add_row("ratings per movie (mean)", f"{stats.mean_per_movie:,.1f}")
    if stats.first_rated is not None and stats.last_rated is not None:
        table.add_row("first rating", stats.first_rated.strftime("%Y-%m-%d %H:%M UTC"))
        table.add_row("last rating", stats.last_rated.strftime("%Y-%m-%d %H:%M UTC"))
    for value, count in stats.rating_counts.items():
        share = count / stats.ratings if stats.ratings else 0.0
        table.add_row(f"rating {value:g}", f"{count:,} ({share:.1%})")
    console.print(table)


@app.command("import-events")
def import_events(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV in the video seed's format: "
            "userId,videoId,interactionType,interactionValue,location,timestamp."
        ),
    ],
    ids: Annotated[
        str,
        typer.Option(
            "--ids",
            help="external: userId/videoId are outside ids (u001, v001), unknown ones are "
            "created; internal: they are database ids, missing users are created and every "
            "movie must exist.",
        ),
    ] = "external",
) -> None:
    """Load an event log into the database in one transaction (all lines or none)."""
    # Imported before the clock starts: the seconds printed are the parse and the load.
    import asyncio

    from recsys.service import ingestion
    from recsys.service.runtime import open_runtime

    if ids not in ("external", "internal"):
        fail(f"--ids must be external or internal, got {ids!r}")
    kind: IdKind = "external" if ids == "external" else "internal"
    settings = load_settings()
    started = time.perf_counter()

    async def load() -> tuple[ingestion.ImportSummary, float]:
        # The runtime's event weights check the file's types; the engine connects only for
        # the write, so a bad line fails before the database is touched.
        async with open_runtime(settings) as runtime:
            try:
                log = ingestion.read_event_log(file, runtime.weights, ids=kind)
            except ingestion.DatasetError as exc:
                fail(str(exc))
            parsed = time.perf_counter() - started
            return await ingestion.import_events(runtime.write_sessions, log, ids=kind), parsed

    with database_errors(settings.database_url):
        try:
            summary, parsed = asyncio.run(load())
        except ingestion.DatasetError as exc:
            fail(str(exc))
    seconds = time.perf_counter() - started
    console.print(
        f"imported {summary.events:,} events from {file} in {seconds:.2f} s "
        f"(parse {parsed:.2f} s): {summary.users:,} users ({summary.new_users:,} new), "
        f"{summary.movies:,} movies ({summary.new_movies:,} new)",
        markup=False,
        highlight=False,
    )


@app.command("import-movies")
def import_movies(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header of id,title,year,genres,external_id (title and genres "
            "required; genres |-separated; an empty id: a new movie, or the movie of its "
            "external_id)."
        ),
    ],
) -> None:
    """Add or update movies from a CSV, validated whole first, in one transaction."""
    import asyncio

    from recsys.service import catalog_writes
    from recsys.service.errors import InvalidMovieFileError
    from recsys.service.runtime import open_runtime

    settings = load_settings()
    started = time.perf_counter()
    try:
        rows = catalog_writes.read_movies_csv(file)
    except InvalidMovieFileError as exc:
        fail(str(exc))

    async def load() -> tuple[int, int]:
        async with open_runtime(settings) as runtime, runtime.write_sessions() as session:
            counts = await catalog_writes.import_movies(session, file, rows)
            await session.commit()
            return counts.created, counts.updated

    with database_errors(settings.database_url):
        try:
            created, updated = asyncio.run(load())
        except InvalidMovieFileError as exc:
            fail(str(exc))
    console.print(
        f"imported {len(rows):,} movies from {file} in {time.perf_counter() - started:.2f} s: "
        f"{created:,} new, {updated:,} updated (serving workers reload within "
        f"RECSYS_CATALOG_POLL_SECONDS, {settings.catalog_poll_seconds:g} s)",
        markup=False,
        highlight=False,
    )
