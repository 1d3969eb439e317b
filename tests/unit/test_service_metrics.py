from prometheus_client import REGISTRY

from recsys.service.metrics import count_database_error


def _count(kind: str) -> float:
    value = REGISTRY.get_sample_value("recsys_database_errors_total", {"kind": kind})
    return 0.0 if value is None else value


def test_count_database_error_adds_one_for_its_kind() -> None:
    before, other = _count("timeout"), _count("unavailable")
    count_database_error("timeout")
    assert _count("timeout") == before + 1
    assert _count("unavailable") == other
