"""CLI start-up: wall time of cheap ``recsys`` invocations and the import time of ``recsys.cli``.

For each invocation (``--help``, ``data --help``, ...), runs the ``recsys`` console script of
this environment as a subprocess ``--repeats`` times and prints the median and the spread of the
wall time (interpreter start-up included, ``uv run`` excluded); then the cumulative import time
of ``recsys.cli`` from ``python -X importtime``. Target: ``--help`` and ``data --help`` <= 1.5 s.
Run:

    uv run python benchmarks/cli_startup.py                 # 5 repeats
    uv run python benchmarks/cli_startup.py --repeats 3 -- train --help
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

INVOCATIONS = (["--help"], ["data", "--help"], ["tune", "--help"], ["trian"])
# "import time: self | cumulative | name": the cumulative microseconds of recsys.cli itself.
_CUMULATIVE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| recsys\.cli$", re.MULTILINE)


def wall_seconds(script: Path, argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``recsys ARGV`` (its exit status is not checked)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([str(script), *argv], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def import_seconds() -> float:
    """Cumulative import time of ``recsys.cli`` in a fresh interpreter, per ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import recsys.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    match = _CUMULATIVE.search(result.stderr)
    if match is None:
        raise SystemExit("recsys.cli not found in the -X importtime output")
    return int(match.group(1)) / 1e6


def main() -> None:
    """Print the medians; the invocations come from the command line or INVOCATIONS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("argv", nargs="*", help="one invocation to time instead of the defaults")
    args = parser.parse_args()
    script = Path(sys.executable).parent / "recsys"
    invocations = [args.argv] if args.argv else [list(argv) for argv in INVOCATIONS]
    for argv in invocations:
        times = wall_seconds(script, argv, args.repeats)
        print(
            f"recsys {' '.join(argv):<14} median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}, {args.repeats} runs)"
        )
    print(f"import recsys.cli (-X importtime, cumulative): {import_seconds():.3f} s")


if __name__ == "__main__":
    main()
