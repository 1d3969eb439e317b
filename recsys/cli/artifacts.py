"""``recsys models``: list the stored versions of a model and choose the one to serve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import artifact_store, fail, load_settings
from recsys.service.choices import MODEL_TYPES

if TYPE_CHECKING:
    from recsys.service.artifacts import ArtifactStore

app = typer.Typer(no_args_is_help=True)
_out = Console()
_MODEL_HELP = f"Model type: {', '.join(sorted(MODEL_TYPES))}."

ModelTypeOption = Annotated[str, typer.Option("--model-type", "-m", help=_MODEL_HELP)]
BucketOption = Annotated[
    str | None, typer.Option(help="Use gs://BUCKET instead of RECSYS_ARTIFACT_URI.")
]
UriOption = Annotated[
    str | None, typer.Option(help="Artifact store URI (default: RECSYS_ARTIFACT_URI).")
]


@app.command("list")
def list_command(
    model_type: ModelTypeOption = "als",
    bucket_name: BucketOption = None,
    artifact_uri: UriOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Load every version and verify its hashes, as a starting pod does, and mark "
            "the one it would serve (an earlier one when LATEST does not load).",
        ),
    ] = False,
) -> None:
    """Every stored version of a model type, oldest first; the one LATEST names is marked."""
    from recsys.service.artifacts import ArtifactError, list_versions

    store = artifact_store(
        bucket_name=bucket_name, artifact_uri=artifact_uri, settings=load_settings()
    )
    try:
        versions = list_versions(store, model_type)
        latest, latest_problem = _latest(store, model_type)
        problems = {v: _check(store, model_type, v) for v in versions} if check else {}
        promoted = latest is not None or latest_problem is not None  # no LATEST: nothing serves
        serves = _serves(versions, latest, problems) if check and promoted else None
        table = _versions_table(store, model_type, versions, latest, problems, serves)
    except ArtifactError as exc:
        fail(str(exc))
    if not versions:
        fail(f"no {model_type!r} versions in {store.uri}: make train-cli model_type={model_type}")
    _out.print(table)
    for line in _notes(versions, latest, latest_problem, problems, serves):
        _out.print(line, markup=False, highlight=False)


def _latest(store: ArtifactStore, model_type: str) -> tuple[str | None, str | None]:
    # (the version LATEST names, or None; what is wrong with LATEST itself, or None)
    from recsys.service.artifacts import ArtifactCorruptError, latest_or_none

    try:
        return latest_or_none(store, model_type), None
    except ArtifactCorruptError as exc:
        return None, exc.reason


def _check(store: ArtifactStore, model_type: str, version: str) -> str | None:
    from recsys.service.artifacts import check_version

    return check_version(store, model_type, version)


def _serves(versions: list[str], latest: str | None, problems: dict[str, str | None]) -> str | None:
    # The rule start-up follows (recsys.service.registry): LATEST if it loads, else the newest
    # earlier version that does.
    from recsys.service.artifacts import fallback_order

    if latest is not None and latest in problems and problems[latest] is None:
        return latest
    return next((v for v in fallback_order(versions, latest) if problems[v] is None), None)


def _versions_table(
    store: ArtifactStore,
    model_type: str,
    versions: list[str],
    latest: str | None,
    problems: dict[str, str | None],
    serves: str | None,
) -> Table:
    from recsys.service.artifacts import ArtifactError, read_manifest

    table = Table(title=f"{model_type} in {store.uri}", title_justify="left")
    table.add_column("version", no_wrap=True)
    for column in ("created (UTC)", "users x movies", "ratings", "params", ""):
        table.add_column(column)
    if problems:
        table.add_column("check")
    for version in versions:
        try:
            manifest = read_manifest(store, model_type, version)
        except ArtifactError as exc:  # one damaged manifest must not hide the other versions
            cells = ["?", "?", "?", exc.reason]
        else:
            data = manifest.data
            cells = [
                manifest.created_at[:19].replace("T", " "),
                f"{data.get('n_users', '?'):,} x {data.get('n_items', '?'):,}",
                f"{data.get('n_interactions', '?'):,}",
                ", ".join(f"{k}={v}" for k, v in sorted(manifest.params.items())),
            ]
        marks = [
            m for m, on in (("LATEST", version == latest), ("serves", version == serves)) if on
        ]
        cells.append(", ".join(marks))
        if problems:
            problem = problems[version]
            cells.append("ok" if problem is None else f"refused: {problem}")
        table.add_row(version, *cells)
    return table


def _notes(
    versions: list[str],
    latest: str | None,
    latest_problem: str | None,
    problems: dict[str, str | None],
    serves: str | None,
) -> list[str]:
    notes = []
    if latest_problem is not None:
        notes.append(latest_problem)
    elif latest is None:
        notes.append("no LATEST: nothing is promoted, a starting pod serves nothing")
    elif latest not in versions:
        notes.append(f"LATEST names {latest}, which is not stored")
    if problems and (latest is not None or latest_problem is not None) and serves != latest:
        if serves is None:
            notes.append("no version loads: a starting pod serves nothing (not ready)")
        else:
            notes.append(
                f"LATEST does not load: a starting pod serves {serves}, the newest earlier "
                "version that loads"
            )
    return notes


@app.command("promote")
def promote_command(
    version: Annotated[
        str, typer.Argument(help="The version to serve (see `recsys models list`).")
    ],
    model_type: ModelTypeOption = "als",
    bucket_name: BucketOption = None,
    artifact_uri: UriOption = None,
) -> None:
    """Point LATEST at VERSION (roll back or forward) after checking that it loads intact."""
    from recsys.service.artifacts import ArtifactError, promote

    store = artifact_store(
        bucket_name=bucket_name, artifact_uri=artifact_uri, settings=load_settings()
    )
    try:
        previous = promote(store, model_type, version)
    except ArtifactError as exc:
        fail(str(exc))
    _out.print(f"{model_type}: LATEST {previous or '(none)'} -> {version}")
