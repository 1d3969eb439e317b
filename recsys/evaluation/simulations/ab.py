"""Offline A/B test of two policies on logged data.

The users of a leave-last-out split are randomly (seeded) split into two arms; each arm is
served by one policy trained on the train part, and a "click" is the user's held-out next item
appearing in the policy's top K. Each arm's click rate gets a Wilson 95% interval; the arms are
compared with a two-proportion z-test.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.evaluation.experiment import seeded_params
from recsys.evaluation.runner import EvalData, evaluate_model, fit_model
from recsys.evaluation.splits import Split, leave_last_out, take
from recsys.evaluation.statistics import (
    ProportionTest,
    p_clause,
    rounded,
    two_proportion_test,
    wilson_interval,
)
from recsys.modeling.registry import model_class

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Say = Callable[[str], None]

AB_FILES = ("ab.md", "ab.json")


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
            "rate": rounded(self.rate),
            "ci": [rounded(self.low), rounded(self.high)],
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
                f"({leader.policy} is ahead, {p_clause(self.test.p_value)})"
            )
        return (
            f"{self.winner} wins: its click rate is significantly higher at the {level} level "
            f"({p_clause(self.test.p_value)})"
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
            f"z = {t.z:.2f}, {p_clause(t.p_value)}.",
            "",
            f"**{self.verdict()}.**",
            "",
        ]
        return "\n".join(lines)


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
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
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
