"""``recsys simulate ab`` and ``recsys simulate feedback-loop``: offline policy simulations."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from recsys.cli._common import err_console, fail
from recsys.cli._dataset import DataDirOption, DatasetOption, load_interactions
from recsys.service.choices import (
    FEEDBACKS,
    MAX_WINDOWS,
    MODEL_TYPES,
    UnknownModelTypeError,
    check_model_type,
)

# The simulations (scipy, matplotlib, the models) are imported when a command runs, so that
# `recsys --help` does not pay for them.
if TYPE_CHECKING:
    from recsys.service.choices import Feedback
    from recsys.service.simulation import ABTest, Estimate, FeedbackLoop

app = typer.Typer(no_args_is_help=True, add_completion=False)
_out = Console()
_POLICY_HELP = f"one of {', '.join(sorted(MODEL_TYPES))}"

SeedOption = Annotated[
    int, typer.Option(min=0, help="Seed of the arm assignment and of every seeded model.")
]
KOption = Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Cut-off K.")]


@app.command("ab")
def ab_command(
    policy_a: Annotated[
        str, typer.Option("--policy-a", help=f"Policy of arm A ({_POLICY_HELP}).")
    ] = "popularity",
    policy_b: Annotated[
        str, typer.Option("--policy-b", help=f"Policy of arm B ({_POLICY_HELP}).")
    ] = "als",
    dataset: DatasetOption = None,
    k: KOption = 10,
    seed: SeedOption = 42,
    share_b: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of the users assigned to arm B.")
    ] = 0.5,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for ab.md and ab.json.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """A/B test of two policies: users split at random, a click is a hit on the held-out item."""
    from recsys.service.simulation import simulate_ab, write_ab

    _known(policy_a)
    _known(policy_b)
    if policy_a == policy_b:
        fail(f"--policy-a and --policy-b are both {policy_a!r}; compare two different policies")
    name, interactions = load_interactions(dataset, data_dir)
    args = ["recsys", "simulate", "ab", "--dataset", name, "--policy-a", policy_a]
    args += ["--policy-b", policy_b, "-k", str(k), "--seed", str(seed)]
    if share_b != 0.5:
        args += ["--share-b", f"{share_b:g}"]
    if out is not None:
        args += ["--out", str(out)]
    try:
        with err_console.status("simulating the A/B test") as status:
            result = simulate_ab(
                interactions,
                policy_a=policy_a,
                policy_b=policy_b,
                k=k,
                seed=seed,
                share_b=share_b,
                dataset=name,
                command=shlex.join(args),
                say=status.update,
            )
    except ValueError as exc:
        fail(str(exc))
    _print_ab(result)
    if out is not None:
        _wrote(write_ab(result, out))


@app.command("feedback-loop")
def feedback_loop_command(
    dataset: DatasetOption = None,
    windows: Annotated[
        int,
        typer.Option("--windows", "-w", min=2, max=MAX_WINDOWS, help="Time windows of equal size."),
    ] = 5,
    policies: Annotated[
        str,
        typer.Option(
            "--policies", "-p", help=f"Comma-separated policies ({', '.join(sorted(MODEL_TYPES))})."
        ),
    ] = "popularity,als",
    feedback: Annotated[
        str,
        typer.Option(
            help="all: retrain on every logged interaction so far (replay); clicks: after the "
            "first window, only on what the policy's own top K caught (closed loop)."
        ),
    ] = "all",
    k: KOption = 10,
    seed: SeedOption = 42,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for feedback_loop.md, feedback_loop.json and .png."
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Replay the data window by window: retrain each policy, score it on the next window."""
    from recsys.service.simulation import simulate_feedback_loop, write_feedback_loop

    names = [part.strip() for part in policies.split(",") if part.strip()]
    if not names:
        fail(f"--policies takes model types separated by commas, got {policies!r}")
    for policy in names:
        _known(policy)
    if feedback not in FEEDBACKS:
        fail(f"--feedback must be one of {', '.join(FEEDBACKS)}, got {feedback!r}")
    name, interactions = load_interactions(dataset, data_dir)
    args = ["recsys", "simulate", "feedback-loop", "--dataset", name, "--windows", str(windows)]
    args += ["--policies", ",".join(names), "--feedback", feedback, "-k", str(k)]
    args += ["--seed", str(seed)]
    if out is not None:
        args += ["--out", str(out)]
    try:
        with err_console.status("simulating the feedback loop") as status:
            result = simulate_feedback_loop(
                interactions,
                policies=names,
                windows=windows,
                k=k,
                seed=seed,
                feedback=cast("Feedback", feedback),
                dataset=name,
                command=shlex.join(args),
                say=status.update,
            )
    except ValueError as exc:
        fail(str(exc))
    _print_loop(result)
    if out is not None:
        _wrote(write_feedback_loop(result, out))


def _known(policy: str) -> None:
    try:
        check_model_type(policy)
    except UnknownModelTypeError as exc:
        fail(str(exc))


def _print_ab(result: ABTest) -> None:
    table = Table(
        title=f"A/B on {result.dataset}: click = held-out next item in the top {result.k}",
        title_justify="left",
    )
    for column in ("arm", "policy", "users", "clicks", "click rate", "95% CI (Wilson)"):
        table.add_column(column, justify="left" if column in ("arm", "policy") else "right")
    for arm in (result.a, result.b):
        table.add_row(
            arm.name,
            arm.policy,
            f"{arm.users:,}",
            f"{arm.clicks:,}",
            f"{arm.rate:.4f}",
            f"[{arm.low:.4f}, {arm.high:.4f}]",
        )
    _out.print(table)
    t = result.test
    _out.print(
        f"B - A = {t.difference:+.4f} (95% CI [{t.low:+.4f}, {t.high:+.4f}]), "
        f"z = {t.z:.2f}, p = {t.p_value:.4g}: {result.verdict()}",
        highlight=False,
        soft_wrap=True,
    )


def _print_loop(result: FeedbackLoop) -> None:
    table = Table(
        title=f"{result.dataset}: {len(result.windows)} windows, retrained after each "
        f"(feedback: {result.feedback}; mean ± 95% CI)",
        title_justify="left",
    )
    for column in ("policy", "window", "train rows", "users"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for column in (f"HR@{result.k}", f"NDCG@{result.k}", f"Cov@{result.k}", "caught"):
        table.add_column(column, justify="right")
    for step in result.steps:
        table.add_row(
            step.policy,
            str(step.window),
            f"{step.train_rows:,}",
            f"{step.test_users:,}",
            _estimate(step.hr),
            _estimate(step.ndcg),
            f"{step.coverage:.3f}",
            f"{step.clicked_rows:,}",
        )
    _out.print(table)
    for note in result.notes:
        _out.print(f"note: {note}", highlight=False, soft_wrap=True)


def _estimate(e: Estimate) -> str:
    return f"{e.mean:.4f} ± {e.half_width:.4f}" if e.n > 1 else f"{e.mean:.4f}"


def _wrote(paths: list[Path]) -> None:
    _out.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False, soft_wrap=True)
