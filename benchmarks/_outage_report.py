"""The outage benchmark's record of a run and its report (benchmarks/outage.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# The longest a request should wait on a database that answers nothing: the driver's command
# timeout (RECSYS_DB_STATEMENT_TIMEOUT_MS 5 s + 1 s, recsys.db.session).
SLOW_S = 6.0
# A client event loop this late is a stall worth reporting (Timeline.stalls).
STALL_S = 1.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: when it was sent and answered (seconds since the load began), and how."""

    sent: float
    done: float
    status: int  # 0: no HTTP answer (see ``error``)
    error: str = ""


@dataclass
class Timeline:
    """What a run saw: every answer, and when the fault began and ended."""

    answers: list[Answer] = field(default_factory=list)
    fault_issued: float = 0.0
    fault_done: float = 0.0  # the stop command returned / every process stopped
    back_issued: float = 0.0
    back_done: float = 0.0  # the start command returned (accepting connections) / SIGCONT sent
    # (began, seconds) of each time the client's own event loop ran over STALL_S late: on this
    # shared machine the client can be starved of CPU, and a request it meant to send during a
    # stall longer than uvicorn's keep-alive timeout (5 s) finds its connection closed.
    stalls: list[tuple[float, float]] = field(default_factory=list)


def per_second(timeline: Timeline, seconds: int) -> list[str]:
    """Markdown rows: each second's answers by kind (by the time they came back)."""
    rows = []
    last = max((int(a.done) for a in timeline.answers), default=0)
    bins: list[Counter[str]] = [Counter() for _ in range(max(last, seconds) + 1)]
    slowest = [0.0] * len(bins)
    for a in timeline.answers:
        second = int(a.done)
        bins[second][_kind(a)] += 1
        slowest[second] = max(slowest[second], a.done - a.sent)
    for second in range(last + 1):
        c = bins[second]
        mark = _mark(timeline, second)
        rows.append(
            f"| {second}{mark} | {c['2xx']} | {c['503']} | {c['other']} | {c['error']} | "
            f"{slowest[second] * 1000:.0f} |"
        )
    return rows


def _mark(timeline: Timeline, second: int) -> str:
    if int(timeline.fault_issued) == second:
        return " (fault)"
    if int(timeline.back_done) == second:
        return " (back)"
    return ""


def _kind(answer: Answer) -> str:
    if answer.status == 0:
        return "error"
    if 200 <= answer.status < 300:
        return "2xx"
    return "503" if answer.status == 503 else "other"


def summary(timeline: Timeline, log: Path) -> dict[str, str]:
    """The run's figures: counts, times to the first 503 / first 200, the slowest answer."""
    answers = timeline.answers
    kinds = Counter(_kind(a) for a in answers)
    statuses = Counter(a.status for a in answers if _kind(a) == "other")
    errors = Counter(a.error for a in answers if a.status == 0)
    first_503 = next((a.done for a in answers if a.status == 503), None)
    after_back = [a for a in answers if a.done > timeline.back_done]
    first_200 = next((a.done for a in after_back if a.status == 200), None)
    # From the start command on; the 200s before the down window ended came from memory.
    sent_since_start = [a for a in answers if a.sent >= timeline.back_issued]
    first_200_since_start = next((a.done for a in sent_since_start if a.status == 200), None)
    last_bad = max((a.done for a in after_back if a.status != 200), default=None)
    down = [a for a in answers if a.sent >= timeline.fault_done and a.done <= timeline.back_issued]
    text = log.read_text(errors="replace")

    def since(t: float | None, origin: float) -> str:
        return "none" if t is None else f"{t - origin:.2f} s"

    return {
        "requests": str(len(answers)),
        "2xx / 503 / other / errors": " / ".join(
            str(kinds[k]) for k in ("2xx", "503", "other", "error")
        ),
        "other statuses": ", ".join(f"{s}: {n}" for s, n in statuses.items()) or "none",
        "errors by type": ", ".join(f"{e}: {n}" for e, n in errors.items()) or "none",
        "fault took (command)": f"{timeline.fault_done - timeline.fault_issued:.2f} s",
        "first 503 after the fault began": since(first_503, timeline.fault_issued),
        "back took (command)": f"{timeline.back_done - timeline.back_issued:.2f} s",
        "first 200 sent after the start began": since(first_200_since_start, timeline.back_issued),
        "first 200 after the database was back": since(first_200, timeline.back_done),
        "last non-200 after the database was back": since(last_bad, timeline.back_done),
        "fault / back (command began-returned, s)": (
            f"{timeline.fault_issued:.2f}-{timeline.fault_done:.2f} / "
            f"{timeline.back_issued:.2f}-{timeline.back_done:.2f}"
        ),
        "200s while the database was down (from memory)": _down_200s(down),
        "slowest answer": _slowest(answers),
        f"client event-loop stalls over {STALL_S:.0f} s (began at, lasted)": (
            ", ".join(f"{at:.1f} s: {late:.1f} s" for at, late in timeline.stalls) or "none"
        ),
        "server log: Traceback / 'database unavailable' / 'database is back'": (
            f"{text.count('Traceback')} / {text.count('database unavailable')} / "
            f"{text.count('database is back')}"
        ),
    }


def _slowest(answers: list[Answer]) -> str:
    if not answers:
        return "none"
    slowest = max(answers, key=lambda a: a.done - a.sent)
    over = sum(a.done - a.sent > SLOW_S for a in answers)
    return (
        f"{(slowest.done - slowest.sent) * 1000:.0f} ms (sent at {slowest.sent:.2f} s, "
        f"status {slowest.status or slowest.error}); {over} over {SLOW_S:.0f} s"
    )


def workers_of(log: Path) -> str:
    """The worker count ``recsys serve`` printed in its log."""
    # As `recsys serve` prints it ("Workers:        2").
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("Workers:"):
            return line.split()[-1]
    return "?"


def _down_200s(down: list[Answer]) -> str:
    ok = [a.done for a in down if a.status == 200]
    span = f" (answered {min(ok):.2f}-{max(ok):.2f} s)" if ok else ""
    return f"{len(ok)} of {len(down)}{span}"
