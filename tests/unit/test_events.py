"""Event types and weights: the rule every consumer of events applies."""

from __future__ import annotations

import math

import pytest

from recsys.events import EventWeights
from recsys.settings import DEFAULT_EVENT_WEIGHTS

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)


def test_types_include_rating_and_are_sorted() -> None:
    assert WEIGHTS.types == ("complete", "dislike", "like", "rating", "watch")
    assert dict(WEIGHTS.configured) == {"complete": 3.0, "dislike": -5.0, "like": 2.0, "watch": 1.0}


@pytest.mark.parametrize(
    ("type_", "value", "weight"),
    [("watch", None, 1.0), ("like", 7.0, 2.0), ("complete", None, 3.0), ("rating", 4.5, 4.5)],
)
def test_weight_is_the_types_or_a_ratings_value(
    type_: str, value: float | None, weight: float
) -> None:
    assert WEIGHTS.weight(type_, value) == weight


def test_weight_of_an_unknown_type_or_a_valueless_rating_raises() -> None:
    with pytest.raises(ValueError, match="unknown event type 'share'"):
        WEIGHTS.weight("share", None)
    with pytest.raises(ValueError, match="needs a value"):
        WEIGHTS.weight("rating", None)


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        (
            "share",
            None,
            "unknown event type 'share': expected one of complete, dislike, like, rating, watch",
        ),
        ("rating", None, r"a rating event needs a value in [0.5, 5]"),
        ("rating", 0.4, r"rating value 0.4 is out of range [0.5, 5]"),
        ("rating", 5.5, r"rating value 5.5 is out of range [0.5, 5]"),
        ("rating", math.nan, "value must be a finite number in [-1e+09, 1e+09], got nan"),
        ("watch", math.inf, "value must be a finite number in [-1e+09, 1e+09], got inf"),
        ("watch", 2e9, "value must be a finite number in [-1e+09, 1e+09], got 2000000000.0"),
    ],
)
def test_check_names_what_is_wrong_and_what_is_allowed(
    type_: str, value: float | None, message: str
) -> None:
    assert WEIGHTS.check(type_, value) == message


@pytest.mark.parametrize(
    ("type_", "value"), [("watch", None), ("watch", 12.0), ("rating", 0.5), ("rating", 5.0)]
)
def test_check_accepts_valid_events(type_: str, value: float | None) -> None:
    assert WEIGHTS.check(type_, value) is None


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"rating": 1.0}, "weighs its value"),
        ({"Watch": 1.0}, "not an event type name"),
        ({"watch": 0.0}, "must be finite, non-zero"),
        ({"watch": math.inf}, "must be finite, non-zero"),
        ({"dislike": -2e6}, "must be finite, non-zero"),
    ],
)
def test_bad_configuration_is_refused(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventWeights(weights)


def test_equal_weights_compare_equal() -> None:
    assert EventWeights({"watch": 1, "like": 2}) == EventWeights({"like": 2.0, "watch": 1.0})
    assert EventWeights({"watch": 1}) != WEIGHTS


def test_a_negative_weight_is_negative_feedback() -> None:
    weights = EventWeights({"watch": 1.0, "dislike": -5.0})
    assert weights.weight("dislike", None) == -5.0
    assert weights.check("dislike", None) is None


def test_settings_take_a_negative_weight_and_refuse_zero() -> None:
    from recsys.settings import Settings

    assert Settings(event_weights={"dislike": -2.5}).event_weights == {"dislike": -2.5}
    with pytest.raises(ValueError, match="not 0"):
        Settings(event_weights={"watch": 0.0})
