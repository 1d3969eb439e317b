"""``recsys models``: list the stored versions of a model and choose the one to serve."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import (
    artifact_store,
    fail,
    known_model_type,
    known_version,
    load_settings,
)
from recsys.service.choices import MODEL_TYPES

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
) -> None:
    """Every stored version of a model type, oldest first; the served one is marked LATEST."""
    known_model_type(model_type)
    from recsys.service.artifacts import (
        ArtifactError,
        latest_or_none,
        list_versions,
        read_manifest,
    )

    store = artifact_store(
        bucket_name=bucket_name, artifact_uri=artifact_uri, settings=load_settings()
    )
    try:
        versions = list_versions(store, model_type)
        latest = latest_or_none(store, model_type)
        table = Table(title=f"{model_type} in {store.uri}", title_justify="left")
        table.add_column("version", no_wrap=True)
        for column in ("created (UTC)", "users x movies", "ratings", "params", ""):
            table.add_column(column)
        for version in versions:
            manifest = read_manifest(store, model_type, version)
            data = manifest.data
            table.add_row(
                version,
                manifest.created_at[:19].replace("T", " "),
                f"{data.get('n_users', '?'):,} x {data.get('n_items', '?'):,}",
                f"{data.get('n_interactions', '?'):,}",
                ", ".join(f"{k}={v}" for k, v in sorted(manifest.params.items())),
                "LATEST" if version == latest else "",
            )
    except ArtifactError as exc:
        fail(str(exc))
    if not versions:
        fail(f"no {model_type!r} versions in {store.uri}: make train-cli model_type={model_type}")
    _out.print(table)


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
    known_model_type(model_type)
    known_version(version, parameter="VERSION")
    from recsys.service.artifacts import ArtifactError, promote

    store = artifact_store(
        bucket_name=bucket_name, artifact_uri=artifact_uri, settings=load_settings()
    )
    try:
        previous = promote(store, model_type, version)
    except ArtifactError as exc:
        fail(str(exc))
    _out.print(f"{model_type}: LATEST {previous or '(none)'} -> {version}")
