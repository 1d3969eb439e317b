import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from recsys.service.metrics import (
    MULTIPROC_ENV,
    count_database_error,
    count_events,
    count_refused_events,
    forget_dead_workers,
    publish_models,
    render_metrics,
)


def _count(kind: str) -> float:
    value = REGISTRY.get_sample_value("recsys_database_errors_total", {"kind": kind})
    return 0.0 if value is None else value


def test_count_database_error_adds_one_for_its_kind() -> None:
    before, other = _count("timeout"), _count("unavailable")
    count_database_error("timeout")
    assert _count("timeout") == before + 1
    assert _count("unavailable") == other


# -- what serves, and dead workers -----------------------------------------------------------


def _info(model: str, version: str) -> float | None:
    return REGISTRY.get_sample_value("recsys_model_info", {"model": model, "version": version})


def test_publish_models_sets_the_serving_version_and_zeroes_the_replaced_one() -> None:
    publish_models({"unit-a": "v1", "unit-b": "w1"})
    assert (_info("unit-a", "v1"), _info("unit-b", "w1")) == (1, 1)
    publish_models({"unit-a": "v2", "unit-b": "w1"})
    assert (_info("unit-a", "v1"), _info("unit-a", "v2"), _info("unit-b", "w1")) == (0, 1, 1)
    publish_models({"unit-a": "v2"})  # a type no longer served is 0 too
    assert (_info("unit-a", "v2"), _info("unit-b", "w1")) == (1, 0)
    publish_models({})


def test_count_events_and_refusals_keep_received_the_sum_of_the_outcomes() -> None:
    names = ("received", "stored", "replayed", "refused")

    def counts() -> list[float]:
        return [REGISTRY.get_sample_value(f"recsys_events_{n}_total") or 0.0 for n in names]

    before = counts()
    count_events(received=5, stored=3, replayed=2)
    count_refused_events(4)
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [9, 3, 2, 4]


def test_forget_dead_workers_drops_only_the_live_gauges_of_exited_processes(
    tmp_path: Path,
) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()  # reaped: its pid no longer exists
    dead, alive = exited.pid, os.getpid()
    names = [
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"gauge_max_{dead}.db",  # not a live mode: kept, as prometheus_client does
        f"counter_{dead}.db",  # counts survive their process
        f"gauge_livesum_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert forget_dead_workers(str(tmp_path)) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_max_{dead}.db", f"counter_{dead}.db", f"gauge_livesum_{alive}.db"]
    )
    assert forget_dead_workers(str(tmp_path)) == []


def test_a_zombie_worker_counts_as_dead(tmp_path: Path) -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Exited but not reaped (no wait yet): signal 0 still finds it.
        deadline = time.monotonic() + 30
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (tmp_path / f"gauge_livesum_{zombie.pid}.db").write_bytes(b"")
        assert forget_dead_workers(str(tmp_path)) == [zombie.pid]
    finally:
        zombie.wait()


def test_a_scrape_skips_a_starting_workers_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker that has just created its file (empty, not yet extended) beside one with a
    # count: the scrape reads the count instead of failing on the empty file's header.
    # prometheus_client's own file format, written by its own (untyped) writer.
    written = MmapedDict(str(tmp_path / f"counter_{os.getpid()}.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("recsys_unit_total", "recsys_unit_total", [], [], "A unit counter.")
    written.write_value(key, 3.0, 0.0)  # type: ignore[no-untyped-call]
    written.close()  # type: ignore[no-untyped-call]
    (tmp_path / "counter_999999999.db").write_bytes(b"")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(render_metrics().decode())
        for s in family.samples
    }
    assert samples == {"recsys_unit_total": 3.0}


def test_a_sweep_another_worker_finished_first_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two workers answering scrapes at once find the same dead pid. Here the other one wins:
    # just before our first removal it removes every file of that pid. Ours must not fail
    # (that would be a 500 on /metrics).
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    files = [tmp_path / f"gauge_{mode}_{exited.pid}.db" for mode in ("livesum", "livemax")]
    for path in files:
        path.write_bytes(b"")
    real_remove = os.remove
    raced: list[str] = []

    def other_worker_first(path: str) -> None:
        if not raced:
            raced.append(path)
            for other in files:
                real_remove(other)
        real_remove(path)  # already gone the first time: FileNotFoundError

    monkeypatch.setattr(os, "remove", other_worker_first)
    assert forget_dead_workers(str(tmp_path)) == [exited.pid]
    assert raced and list(tmp_path.iterdir()) == []
