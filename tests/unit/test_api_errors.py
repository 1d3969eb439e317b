"""Domain errors know no HTTP status: the API's one table maps their types to statuses."""

from __future__ import annotations

import pytest

from recsys.api.errors import STATUS, status_of
from recsys.service import errors
from recsys.service.ingestion import InvalidEventsError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.UnknownUserError(1), 404),
        (errors.UnknownMovieError(1), 404),
        (errors.UnknownExternalUserError("u1"), 404),
        (errors.UnknownModelError("nope", ["als"]), 422),
        (errors.UnsupportedModelError("popularity", "similar movies", ["als"]), 422),
        (errors.ModelUnavailableError("als", "no artifact"), 503),
        (errors.FallbackUnavailableError(1, "als"), 503),
        (errors.NoInteractionsError("none"), 500),  # never raised by a route
    ],
)
def test_each_domain_error_type_has_one_status(error: errors.ServiceError, status: int) -> None:
    assert not hasattr(error, "status_code")
    assert status_of(error) == status


def test_a_subclass_answers_with_its_base_type_status() -> None:
    class Gone(errors.UnknownMovieError):
        pass

    assert Gone not in STATUS and status_of(Gone(5)) == 404


def test_invalid_events_is_a_domain_error_the_route_renders_itself() -> None:
    # POST /events answers it as FastAPI's 422 validation body, before this table is consulted.
    assert issubclass(InvalidEventsError, errors.ServiceError)
    assert InvalidEventsError not in STATUS
