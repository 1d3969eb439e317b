"""Offline feedback-loop simulation: policies retrained window after window on logged data.

The interactions are cut, in time order, into windows of equal size. After each window, every
policy is retrained on the data seen so far and judged on the next window (HR@K, NDCG@K, item
coverage). With ``feedback="all"`` the data seen so far is everything logged (a replay); with
``feedback="clicks"`` only the first window is logged data and afterwards a policy learns only
from the interactions its own top K caught, the closed loop in which a recommender trains on
what it showed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.choices import FEEDBACKS, MAX_WINDOWS, Feedback, check_int_option
from recsys.evaluation.experiment import seeded_params
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, take
from recsys.evaluation.statistics import Estimate, format_estimate, mean_ci, rounded
from recsys.modeling.base import PAD_ID, Recommender
from recsys.modeling.registry import model_class

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Say = Callable[[str], None]


@dataclass(frozen=True)
class WindowStep:
    """One policy retrained on everything up to a window and scored on the next one."""

    policy: str
    # The window scored (2..D); the policy was trained on windows 1..window-1.
    window: int
    train_rows: int
    test_users: int
    test_rows: int
    # Rows of the scored window left out: their user or movie was not in the training data.
    dropped_rows: int
    hr: Estimate
    ndcg: Estimate
    coverage: float
    fit_seconds: float
    # Rows of this window the policy's top K caught (with feedback="clicks", all it learns).
    clicked_rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "policy": self.policy,
            "window": self.window,
            "train_rows": self.train_rows,
            "test_users": self.test_users,
            "test_rows": self.test_rows,
            "dropped_rows": self.dropped_rows,
            "hr": self.hr.to_dict(),
            "ndcg": self.ndcg.to_dict(),
            "coverage": rounded(self.coverage),
            "fit_seconds": round(self.fit_seconds, 3),
            "clicked_rows": self.clicked_rows,
        }


@dataclass(frozen=True)
class FeedbackLoop:
    """Every policy's metrics window after window."""

    dataset: str
    k: int
    seed: int
    feedback: str
    policies: list[str]
    # Per window: its rows and time range.
    windows: list[dict[str, Any]]
    steps: list[WindowStep]
    command: str = ""
    created_at: str = ""
    data_fingerprint: str = ""
    notes: list[str] = field(default_factory=list)

    def series(self, policy: str) -> list[WindowStep]:
        """The steps of one policy, in window order."""
        return [step for step in self.steps if step.policy == policy]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "dataset": self.dataset,
            "data_fingerprint": self.data_fingerprint,
            "k": self.k,
            "seed": self.seed,
            "feedback": self.feedback,
            "policies": self.policies,
            "command": self.command,
            "created_at": self.created_at,
            "windows": self.windows,
            "steps": [step.to_dict() for step in self.steps],
            "notes": self.notes,
        }

    def to_markdown(self) -> str:
        """The report as markdown (tables and the plot)."""
        how = (
            "everything logged up to it"
            if self.feedback == "all"
            else "the first window plus only what its own top K caught afterwards"
        )
        lines = [
            f"# Feedback-loop simulation on {self.dataset}: {', '.join(self.policies)}",
            "",
            f"Generated {self.created_at} by `{self.command}`; seed {self.seed}.",
            "",
            f"The interactions are cut, in time order, into {len(self.windows)} windows of "
            f"equal size. Before each window from the second on, every policy is retrained on "
            f"{how} and ranks, for every user of the window it knows, all movies the user has "
            f"not interacted with in its training data; the window's interactions are the "
            f"relevant items. Means ± 95% CI over users; dropped: rows of the window whose user or "
            f"movie the policy had no data on; caught: rows that were in the user's top {self.k}.",
            "",
            "| window | rows | from (UTC) | to (UTC) |",
            "|---|---|---|---|",
        ]
        for w in self.windows:
            lines.append(f"| {w['window']} | {w['rows']:,} | {w['from_utc']} | {w['to_utc']} |")
        header = "| policy | window | train rows | users | rows | dropped |"
        header += f" HR@{self.k} | NDCG@{self.k} | Coverage@{self.k} | caught |"
        lines += ["", header, "|" + "---|" * (header.count("|") - 1)]
        for step in self.steps:
            row = (
                f"| {step.policy} | {step.window} | {step.train_rows:,} | {step.test_users:,} | "
                f"{step.test_rows:,} | {step.dropped_rows:,} | {format_estimate(step.hr)} | "
                f"{format_estimate(step.ndcg)} | {step.coverage:.4f} | {step.clicked_rows:,} |"
            )
            lines.append(row)
        lines += ["", "![metrics per window](feedback_loop.png)", ""]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def time_windows(interactions: Interactions, *, windows: int) -> IntArray:
    """Window number (0-based) of each row: equal-size consecutive runs in time order.

    Rows are ordered by (timestamp, user, movie), so ties are cut the same way every time.
    """
    n = len(interactions)
    check_int_option("windows", windows, low=2, high=MAX_WINDOWS)
    if n < windows:
        raise ValueError(f"cannot cut {n} interaction(s) into {windows} windows")
    order = np.lexsort((interactions.movie_ids, interactions.user_ids, interactions.timestamps))
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) * windows // n
    return out


def simulate_feedback_loop(
    interactions: Interactions,
    *,
    policies: Sequence[str],
    windows: int = 5,
    k: int = 10,
    seed: int = 42,
    feedback: Feedback = "all",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    dataset: str = "",
    command: str = "",
    say: Say | None = None,
) -> FeedbackLoop:
    """Retrain each policy after every window on the data so far; score the next window."""
    names = list(dict.fromkeys(policies))
    if not names:
        raise ValueError("give at least one policy")
    for policy in names:
        model_class(policy)
    if feedback not in FEEDBACKS:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACKS)}, got {feedback!r}")
    window_of = time_windows(interactions, windows=windows)
    parts = [take(interactions, window_of == w) for w in range(windows)]
    steps: list[WindowStep] = []
    notes: list[str] = []
    for policy in names:
        model_params = seeded_params(policy, (params or {}).get(policy, {}), seed=seed)
        seen = parts[0]
        for w in range(1, windows):
            if say is not None:
                say(f"{policy}: train on {len(seen):,} rows, score window {w + 1}/{windows}")
            step, clicked = _window_step(policy, model_params, seen, parts[w], number=w + 1, k=k)
            if step is None:
                notes.append(f"{policy}, window {w + 1}: no user of it is known; skipped")
            else:
                steps.append(step)
            arrived = parts[w] if feedback == "all" else clicked
            seen = _concat(seen, arrived)
    scored = sum(step.test_rows for step in steps)
    dropped = sum(step.dropped_rows for step in steps)
    if scored + dropped:
        notes.append(
            f"{dropped / (scored + dropped):.0%} of the scored windows' rows belong to a user or "
            "movie the policy had no data on yet (new users, new movies) and are not scored"
        )
    return FeedbackLoop(
        dataset=dataset,
        k=k,
        seed=seed,
        feedback=feedback,
        policies=names,
        windows=[_window_info(w + 1, part) for w, part in enumerate(parts)],
        steps=steps,
        command=command,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_fingerprint=interactions_fingerprint(interactions),
        notes=notes,
    )


def _window_step(
    policy: str,
    params: Mapping[str, Any],
    seen: Interactions,
    upcoming: Interactions,
    *,
    number: int,
    k: int,
) -> tuple[WindowStep | None, Interactions]:
    # A model can only rank for users it has data on, and only movies it has seen.
    known = np.isin(upcoming.user_ids, seen.user_ids) & np.isin(upcoming.movie_ids, seen.movie_ids)
    test = take(upcoming, known)
    if len(test) == 0:
        return None, test
    data = EvalData.from_split(Split("window", seen, test, {}, {}))
    model, fit_seconds = fit_model(policy, seen, params=params)
    run = evaluate_model(model, data, k=k, with_auc=False, fit_seconds=fit_seconds)
    clicked = take(test, _caught(model, data, test, k=k))
    step = WindowStep(
        policy=policy,
        window=number,
        train_rows=len(seen),
        test_users=int(data.users.shape[0]),
        test_rows=len(test),
        dropped_rows=len(upcoming) - len(test),
        hr=mean_ci(run.per_user["hr"]),
        ndcg=mean_ci(run.per_user["ndcg"]),
        coverage=run.coverage,
        fit_seconds=fit_seconds,
        clicked_rows=len(clicked),
    )
    return step, clicked


def _caught(model: Recommender[Any], data: EvalData, test: Interactions, *, k: int) -> BoolArray:
    # Test rows whose (user, movie) is in the user's top k: the interactions a served list
    # would have produced.
    ids, _ = model.recommend_batch(data.users, histories=data.histories(data.users), k=k)
    users = np.repeat(data.users, ids.shape[1])
    movies = ids.ravel()
    shown = movies != PAD_ID
    base = int(max(movies.max(initial=0), test.movie_ids.max(initial=0))) + 1
    recommended = users[shown] * base + movies[shown]
    return np.isin(test.user_ids.astype(np.int64) * base + test.movie_ids, recommended)


# -- helpers ------------------------------------------------------------------------------------


def _concat(first: Interactions, second: Interactions) -> Interactions:
    return Interactions(
        user_ids=np.concatenate([first.user_ids, second.user_ids]),
        movie_ids=np.concatenate([first.movie_ids, second.movie_ids]),
        ratings=np.concatenate([first.ratings, second.ratings]),
        timestamps=np.concatenate([first.timestamps, second.timestamps]),
    )


def _window_info(number: int, part: Interactions) -> dict[str, Any]:
    return {
        "window": number,
        "rows": len(part),
        "users": int(np.unique(part.user_ids).shape[0]),
        "from_utc": _iso(int(part.timestamps.min())),
        "to_utc": _iso(int(part.timestamps.max())),
    }


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")
