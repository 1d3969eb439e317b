"""Offline simulations on logged data: an A/B test of two policies, and a replayed feedback loop.

A/B test: the users of a leave-last-out split are randomly (seeded) split into two arms; each
arm is served by one policy trained on the train part, and a "click" is the user's held-out
next item appearing in the policy's top K. Each arm's click rate gets a Wilson 95% interval;
the arms are compared with a two-proportion z-test.

Feedback loop: the interactions are cut, in time order, into windows of equal size. After each
window, every policy is retrained on the data seen so far and judged on the next window
(HR@K, NDCG@K, item coverage). With ``feedback="all"`` the data seen so far is everything logged
(a replay); with ``feedback="clicks"`` only the first window is logged data and afterwards a
policy learns only from the interactions its own top K caught, the closed loop in which a
recommender trains on what it showed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.choices import FEEDBACKS, MAX_WINDOWS, Feedback
from recsys.evaluation.experiment import seeded_params
from recsys.evaluation.metrics import Estimate, mean_ci, z_value
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, leave_last_out, take
from recsys.modeling.base import PAD_ID, Recommender
from recsys.modeling.registry import model_class

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Say = Callable[[str], None]

AB_FILES = ("ab.md", "ab.json")
LOOP_FILES = ("feedback_loop.md", "feedback_loop.json", "feedback_loop.png")


# -- A/B test -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One arm: its policy, users, clicks and click rate with a Wilson interval."""

    name: str
    policy: str
    users: int
    clicks: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        """Clicks per user."""
        return self.clicks / self.users if self.users else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "arm": self.name,
            "policy": self.policy,
            "users": self.users,
            "clicks": self.clicks,
            "rate": _round(self.rate),
            "ci": [_round(self.low), _round(self.high)],
        }


@dataclass(frozen=True)
class ProportionTest:
    """Rate B minus rate A with a Wald interval, and the pooled two-proportion z-test."""

    difference: float
    low: float
    high: float
    z: float
    p_value: float
    level: float = 0.95

    @property
    def significant(self) -> bool:
        """True when p < 1 - level."""
        return bool(self.p_value < 1.0 - self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "difference_b_minus_a": _round(self.difference),
            "ci": [_round(self.low), _round(self.high)],
            "z": _round(self.z),
            "p_value": _round(self.p_value, 8),
            "level": self.level,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class ABTest:
    """An offline A/B test: two arms, the test, and how it was set up."""

    dataset: str
    k: int
    seed: int
    a: Arm
    b: Arm
    test: ProportionTest
    split: dict[str, Any]
    command: str = ""
    created_at: str = ""
    data_fingerprint: str = ""

    @property
    def winner(self) -> str | None:
        """The policy with the higher click rate when the difference is significant."""
        if not self.test.significant:
            return None
        return self.b.policy if self.test.difference > 0 else self.a.policy

    def verdict(self) -> str:
        """One sentence: who wins and whether it is significant."""
        level = f"{self.test.level:.0%}"
        if self.winner is None:
            leader = self.b if self.b.rate > self.a.rate else self.a
            return (
                f"no significant difference at the {level} level "
                f"({leader.policy} is ahead, {_p(self.test.p_value)})"
            )
        return (
            f"{self.winner} wins: its click rate is significantly higher at the {level} level "
            f"({_p(self.test.p_value)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "dataset": self.dataset,
            "data_fingerprint": self.data_fingerprint,
            "k": self.k,
            "seed": self.seed,
            "command": self.command,
            "created_at": self.created_at,
            "click": f"the user's held-out (leave-last-out) next item is in the top {self.k}",
            "arms": [self.a.to_dict(), self.b.to_dict()],
            "test": self.test.to_dict(),
            "winner": self.winner,
            "verdict": self.verdict(),
            "split": self.split,
        }

    def to_markdown(self) -> str:
        """The report as markdown."""
        lines = [
            f"# A/B simulation: {self.a.policy} (A) vs {self.b.policy} (B) on {self.dataset}",
            "",
            f"Generated {self.created_at} by `{self.command}`; seed {self.seed}.",
            "",
            f"Each of the {self.a.users + self.b.users:,} users of a leave-last-out split was "
            "randomly assigned to one arm; both policies are trained on the train part; a "
            f"click is the user's held-out next item appearing in the arm's top {self.k}.",
            "",
            "| arm | policy | users | clicks | click rate | 95% CI (Wilson) |",
            "|---|---|---|---|---|---|",
        ]
        for arm in (self.a, self.b):
            lines.append(
                f"| {arm.name} | {arm.policy} | {arm.users:,} | {arm.clicks:,} | "
                f"{arm.rate:.4f} | [{arm.low:.4f}, {arm.high:.4f}] |"
            )
        t = self.test
        lines += [
            "",
            f"B − A: {t.difference:+.4f}, 95% CI [{t.low:+.4f}, {t.high:+.4f}]; two-proportion "
            f"z = {t.z:.2f}, {_p(t.p_value)}.",
            "",
            f"**{self.verdict()}.**",
            "",
        ]
        return "\n".join(lines)


def wilson_interval(clicks: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``clicks / n`` (NaN when n is 0)."""
    if n <= 0:
        return math.nan, math.nan
    z = z_value(level)
    p = clicks / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(
    clicks_a: int, n_a: int, clicks_b: int, n_b: int, *, level: float = 0.95
) -> ProportionTest:
    """rate_b - rate_a: Wald CI (unpooled) and two-sided z-test with the pooled rate."""
    if n_a < 1 or n_b < 1:
        raise ValueError(f"both arms need users, got {n_a} and {n_b}")
    p_a, p_b = clicks_a / n_a, clicks_b / n_b
    diff = p_b - p_a
    half = z_value(level) * math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    pooled = (clicks_a + clicks_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0.0:
        z, p_value = 0.0, 1.0  # both arms all-click or no-click: identical rates
    else:
        z = diff / se
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    return ProportionTest(diff, diff - half, diff + half, z, p_value, level)


def assign_arms(users: IntArray, *, seed: int, share_b: float = 0.5) -> BoolArray:
    """True for users in arm B: a seeded random ``round(share_b * n)`` of them."""
    if not 0.0 < share_b < 1.0:
        raise ValueError(f"share_b must be in (0, 1), got {share_b!r}")
    n = users.shape[0]
    in_b = np.zeros(n, dtype=np.bool_)
    # Drawn over users in id order, so the assignment does not depend on how they are listed.
    order = np.argsort(users, kind="stable")
    chosen = np.random.default_rng(seed).permutation(n)[: round(share_b * n)]
    in_b[order[chosen]] = True
    return in_b


def simulate_ab(
    interactions: Interactions,
    *,
    policy_a: str,
    policy_b: str,
    k: int = 10,
    seed: int = 42,
    share_b: float = 0.5,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    level: float = 0.95,
    dataset: str = "",
    command: str = "",
    say: Say | None = None,
) -> ABTest:
    """Split leave-last-out, assign users to arms, serve each arm its policy, count clicks."""
    for policy in (policy_a, policy_b):
        model_class(policy)
    if policy_a == policy_b:
        raise ValueError(f"policy A and B are both {policy_a!r}; compare two different policies")
    split = leave_last_out(interactions)
    users = np.unique(split.test.user_ids)
    in_b = assign_arms(users, seed=seed, share_b=share_b)
    arms = []
    for name, policy, members in (("A", policy_a, users[~in_b]), ("B", policy_b, users[in_b])):
        if say is not None:
            say(f"arm {name}: {policy} for {members.shape[0]:,} users")
        hits = _arm_hits(split, members, policy, (params or {}).get(policy, {}), k=k, seed=seed)
        clicks = int(hits.sum())
        low, high = wilson_interval(clicks, members.shape[0], level=level)
        arms.append(Arm(name, policy, int(members.shape[0]), clicks, low, high))
    a, b = arms
    return ABTest(
        dataset=dataset,
        k=k,
        seed=seed,
        a=a,
        b=b,
        test=two_proportion_test(a.clicks, a.users, b.clicks, b.users, level=level),
        split=split.stats(),
        command=command,
        created_at=_now(),
        data_fingerprint=interactions_fingerprint(interactions),
    )


def _arm_hits(
    split: Split,
    members: IntArray,
    policy: str,
    params: Mapping[str, Any],
    *,
    k: int,
    seed: int,
) -> npt.NDArray[np.float64]:
    # Only the arm's users are scored: the other arm never sees this policy.
    test = take(split.test, np.isin(split.test.user_ids, members))
    arm = Split(split.name, split.train, test, split.params, split.info)
    model, fit_seconds = fit_model(
        policy, split.train, params=seeded_params(policy, params, seed=seed)
    )
    run = evaluate_model(
        model, EvalData.from_split(arm), k=k, with_auc=False, fit_seconds=fit_seconds
    )
    return run.per_user["hr"]


def write_ab(result: ABTest, out: Path) -> list[Path]:
    """Write ``ab.md`` and ``ab.json`` into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in AB_FILES]
    paths[0].write_text(result.to_markdown(), encoding="utf-8")
    paths[1].write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return paths


# -- feedback loop ------------------------------------------------------------------------------


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
            "coverage": _round(self.coverage),
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
                f"{step.test_rows:,} | {step.dropped_rows:,} | {_estimate(step.hr)} | "
                f"{_estimate(step.ndcg)} | {step.coverage:.4f} | {step.clicked_rows:,} |"
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
    if not isinstance(windows, int) or isinstance(windows, bool) or not 2 <= windows <= MAX_WINDOWS:
        raise ValueError(f"windows must be an integer in [2, {MAX_WINDOWS}], got {windows!r}")
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
        created_at=_now(),
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


def plot_feedback_loop(result: FeedbackLoop, path: Path) -> None:
    """HR@K, NDCG@K (95% CI bars) and coverage@K per window, one line per policy."""
    fig = Figure(figsize=(12.0, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for policy in result.policies:
        series = result.series(policy)
        x = [step.window for step in series]
        for ax, name in zip(axes[:2], ("hr", "ndcg"), strict=True):
            estimates = [getattr(step, name) for step in series]
            ax.errorbar(
                x,
                [e.mean for e in estimates],
                yerr=[np.nan_to_num(e.half_width) for e in estimates],
                marker="o",
                capsize=3,
                label=policy,
            )
        axes[2].plot(x, [step.coverage for step in series], marker="o", label=policy)
    for ax, title in zip(axes, ("HR", "NDCG", "Coverage"), strict=True):
        ax.set_title(f"{title}@{result.k}")
        ax.set_xlabel("window scored")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{result.dataset}: retrained after each window (feedback: {result.feedback})")
    fig.savefig(path, dpi=90)


def write_feedback_loop(result: FeedbackLoop, out: Path) -> list[Path]:
    """Write ``LOOP_FILES`` into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in LOOP_FILES]
    paths[0].write_text(result.to_markdown(), encoding="utf-8")
    paths[1].write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    plot_feedback_loop(result, paths[2])
    return paths


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _estimate(e: Estimate) -> str:
    if math.isnan(e.half_width):
        return f"{e.mean:.4f}"
    return f"{e.mean:.4f} ± {e.half_width:.4f}"


def _p(p_value: float) -> str:
    return "p < 0.0001" if p_value < 1e-4 else f"p = {p_value:.4f}"


def _round(value: float, digits: int = 6) -> float | None:
    return None if math.isnan(value) else round(value, digits)
