"""What every command shares: one red error line, never a traceback for user errors.

Exit 1 for what went wrong doing the work (``fail``), exit 2 for a parameter that is not one
of the values allowed (``bad_parameter``, Click's own code for usage errors).

Imported by every command module, hence by ``recsys --help``: SQLAlchemy, pydantic and the
artifact stores are imported by the functions that use them, not here (see
tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from recsys.service.artifacts import ArtifactStore
    from recsys.settings import Settings

err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` in red on stderr and exit with status 1."""
    err_console.print(
        f"error: {message}", style="bold red", markup=False, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=1)


def bad_parameter(parameter: str, message: str) -> NoReturn:
    """Print ``error: PARAMETER: message`` in red on stderr and exit with status 2."""
    err_console.print(
        f"error: {parameter}: {message}",
        style="bold red",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=2)


def known_model_type(model_type: str, *, parameter: str = "--model-type") -> str:
    """``model_type`` if it is registered, else exit 2 naming ``parameter`` and the choices.

    Checked before the name reaches anything: it becomes a folder of the artifact store.
    Imports no model, so the answer to a typo comes in well under a second.
    """
    from recsys.service.choices import UnknownModelTypeError, check_model_type

    try:
        return check_model_type(model_type)
    except UnknownModelTypeError as exc:
        bad_parameter(parameter, str(exc))


def known_version(version: str, *, parameter: str) -> str:
    """``version`` if it has the shape of a version id, else exit 2 naming ``parameter``."""
    from recsys.service.artifacts import is_version

    if not is_version(version):
        bad_parameter(
            parameter,
            f"{version!r} is not a version id (e.g. 20261123T121314.123456Z-1a2b3c; "
            "`recsys models list` shows them)",
        )
    return version


# One folder name: what a command joins under a directory of ours must stay inside it.
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def folder_name(name: str, *, parameter: str) -> str:
    """``name`` if it is one folder name (no '/', not '..'), else exit 2 naming ``parameter``."""
    if not _FOLDER_NAME.fullmatch(name):
        bad_parameter(
            parameter,
            f"{name!r} is not a folder name: 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


def safe_url(url: str) -> str:
    """A database URL with its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn connection and driver errors into one clear line naming the database."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    try:
        yield
    except (OSError, OperationalError, InterfaceError) as exc:
        fail(f"cannot reach the database {safe_url(url)}: {first_line(exc)}")
    except DBAPIError as exc:
        fail(f"database error: {first_line(exc.orig or exc)}")
    except Exception as exc:
        # asyncpg's own errors (unknown database, auth) can reach us unwrapped from the raw
        # driver paths (COPY); their classes live in the driver, so match by module.
        if type(exc).__module__.startswith("asyncpg"):
            fail(f"database error at {safe_url(url)}: {first_line(exc)}")
        raise


def load_settings() -> Settings:
    """The environment's settings, or one clear line saying which value is wrong."""
    from pydantic import ValidationError

    from recsys.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        fail(f"invalid setting RECSYS_{where.upper()}: {error['msg']}")


def artifact_store(
    *, bucket_name: str | None, artifact_uri: str | None, settings: Settings
) -> ArtifactStore:
    """The store named by --bucket-name / --artifact-uri, else RECSYS_ARTIFACT_URI."""
    from recsys.service.artifacts import open_store

    if bucket_name and artifact_uri:
        fail("give --bucket-name or --artifact-uri, not both")
    uri = f"gs://{bucket_name}" if bucket_name else artifact_uri or settings.artifact_uri
    try:
        return open_store(uri)
    except ValueError as exc:
        fail(str(exc))
