"""The ``recsys`` command line: one Typer app with a sub-command group per area."""

from __future__ import annotations

import typer

from recsys.cli import artifacts as artifacts_cli
from recsys.cli import data as data_cli
from recsys.cli import db as db_cli
from recsys.cli import evaluate as evaluate_cli
from recsys.cli import models as models_cli
from recsys.cli import serve as serve_cli
from recsys.cli import simulate as simulate_cli
from recsys.cli import tune as tune_cli

app = typer.Typer(
    name="recsys",
    help="Recommendation service for a movie catalogue: data, database, models, API.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(data_cli.app, name="data", help="Fetch, generate and inspect datasets.")
app.add_typer(
    artifacts_cli.app, name="models", help="List stored model versions; choose the one to serve."
)
app.add_typer(db_cli.app, name="db", help="Create, seed and roll back the database (Alembic).")
app.command("train")(models_cli.train_command)
app.command("predict")(models_cli.predict_command)
app.command("evaluate")(evaluate_cli.evaluate_command)
app.command("ensure-models")(serve_cli.ensure_models_command)
app.command("serve")(serve_cli.serve_command)
app.command("tune")(tune_cli.tune_command)
app.add_typer(
    simulate_cli.app, name="simulate", help="Offline A/B test and feedback-loop simulations."
)
