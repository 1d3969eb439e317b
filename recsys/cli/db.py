"""``recsys db``: create, seed and roll back the database through the Alembic migrations."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import recsys
from recsys.cli._common import database_errors, fail, load_settings

# Alembic, SQLAlchemy and the seed (pandas) are imported when a command runs, not by --help.
if TYPE_CHECKING:
    from alembic.config import Config

app = typer.Typer(no_args_is_help=True)

# The migrations ship inside the package, so the CLI works from any directory and from a wheel;
# alembic.ini (repo root) is used too when present, for `alembic revision` and friends.
MIGRATIONS_DIR = Path(recsys.__file__).resolve().parent / "alembic"
ALEMBIC_INI = MIGRATIONS_DIR.parent.parent / "alembic.ini"


def alembic_config(
    *,
    database_url: str | None = None,
    dataset: str | None = None,
    data_dir: Path | None = None,
    force_unseed: bool = False,
) -> Config:
    """Alembic Config for the packaged migrations; options override Settings for this run."""
    from alembic.config import Config

    # stdout looked up now: Config's default is bound at import (tests swap sys.stdout).
    ini = str(ALEMBIC_INI) if ALEMBIC_INI.is_file() else None
    config = Config(ini, stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The CLI sets up its own log output; env.py must not reconfigure logging from the ini.
    config.attributes["configure_logger"] = False
    overrides: dict[str, Any] = {
        "database_url": database_url,
        "dataset": dataset,
        "data_dir": data_dir,
        "force_unseed": force_unseed or None,
    }
    config.attributes.update({k: v for k, v in overrides.items() if v is not None})
    return config


DatasetOption = Annotated[
    str | None, typer.Option("--dataset", help="Dataset to seed (overrides RECSYS_DATASET).")
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Datasets folder (overrides RECSYS_DATA_DIR).")
]


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create the schema and seed the configured dataset (Alembic upgrade)."""
    from alembic import command

    _run(lambda url: command.upgrade(_config(url, dataset, data_dir), revision))


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")] = "-1",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Drop events, or unseed, even if rows were added since the seed."
        ),
    ] = False,
) -> None:
    """Roll back migrations one at a time (-1) or to a revision; base drops the tables.

    From head: -1 drops the events and external ids (0003), the next -1 the seeded rows (0002).
    """
    from alembic import command

    _run(
        lambda url: command.downgrade(
            alembic_config(database_url=url, force_unseed=force), revision
        )
    )


@app.command()
def current() -> None:
    """Show the database's current revision."""
    from alembic import command

    _run(lambda url: command.current(alembic_config(database_url=url)), verbose=False)


def _config(url: str, dataset: str | None, data_dir: Path | None) -> Config:
    return alembic_config(database_url=url, dataset=dataset, data_dir=data_dir)


def _run(action: Callable[[str], object], *, verbose: bool = True) -> None:
    from alembic.util import CommandError

    from recsys.service.database import SEED_ERRORS, ensure_sqlite_dir

    expected: tuple[type[Exception], ...] = (*SEED_ERRORS, CommandError)
    url = load_settings().database_url
    ensure_sqlite_dir(url)
    with database_errors(url):
        # Inside database_errors: DatasetNotFoundError is an OSError, not a connection failure.
        try:
            with _log_to_stderr(verbose=verbose):
                action(url)
        except expected as exc:
            fail(str(exc))


@contextmanager
def _log_to_stderr(*, verbose: bool) -> Iterator[None]:
    """Show migration and seed progress (rows, seconds) on stderr for this command only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    loggers = [logging.getLogger(name) for name in ("alembic", "recsys")]
    saved = [(log.level, log.propagate) for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.setLevel(logging.INFO if verbose else logging.WARNING)
        log.propagate = False
    try:
        yield
    finally:
        for log, (level, propagate) in zip(loggers, saved, strict=True):
            log.removeHandler(handler)
            log.setLevel(level)
            log.propagate = propagate
