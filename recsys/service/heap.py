"""Keep long-lived objects out of the garbage collector's full passes (``gc.freeze``).

A full collection walks every tracked object while the event loop waits, so every in-flight
request stalls. What start-up builds (models, catalogue, history cache, imported modules) lives
as long as the process: measured on ML-100K with four models loaded, a full pass over it took
156 ms (301 ms at worst on a busy box) against 0.2 ms once it is frozen
(``benchmarks/gc_pause.py``), and under load one such pass came every few seconds: the p99.
"""

from __future__ import annotations

import gc


def freeze_long_lived(*, collect_first: bool = False) -> None:
    """Move every object alive now into the permanent generation, which collections skip.

    ``collect_first`` (after a reload swapped models): thaw what was frozen, collect once so
    the replaced models' reference cycles are freed rather than kept forever, then freeze again.
    That one pass stalls requests once per reload, not every few seconds.
    """
    if collect_first:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


def thaw() -> None:
    """Give frozen objects back to the collector (at shutdown: a test process runs many apps)."""
    gc.unfreeze()
