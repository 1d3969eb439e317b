"""Prometheus metric objects shared by the api and service layers.

Only the database-error hook exists so far: the `faults` code calls
`count_database_error(kind)` where it turns a database failure into a 503.
"""

from prometheus_client import Counter

DATABASE_ERRORS = Counter(
    "recsys_database_errors_total",
    "Database errors seen while answering, by kind.",
    ["kind"],
)


def count_database_error(kind: str) -> None:
    """Count one database error of `kind` (a short fixed word, e.g. "unavailable", "timeout")."""
    DATABASE_ERRORS.labels(kind=kind).inc()
