"""Event types and their weights: the one rule that turns what users did into interactions.

An interaction's weight is the sum, over one (user, movie), of its rating (weight = the rating)
and of its events (weight = the configured weight of the event's type; a ``rating`` event weighs
its value), as the video seed sums its interaction values. A negative weight (``dislike``) is
negative feedback: it lowers the sum, which may end below zero; the movie stays in the user's
history (so it is never recommended to them again) and the models read the sign (see README).
The API's validation, the import command, the per-request history query and the training
export all apply this module's rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType

RATING = "rating"
# Numeric user ids a client may name (an event of a user the service does not know creates
# them): the lower half of int4. The service gives users it creates for new external ids
# max(id) + 1, so with client ids capped here at least 2**30 ids stay free for those: no client
# can exhaust the id space by naming user 2**31 - 1, as one event once did.
CLIENT_ID_MAX = 2**30 - 1
RATING_MIN, RATING_MAX = 0.5, 5.0
# Values are stored as float4; anything this large is a unit mistake, not a measurement.
VALUE_LIMIT = 1e9
# Largest configured weight, either sign (a unit mistake beyond it, as for VALUE_LIMIT).
WEIGHT_LIMIT = 1e6
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class EventWeights:
    """Known event types and the weight each adds to an interaction (immutable)."""

    __slots__ = ("_weights", "_types")

    def __init__(self, weights: Mapping[str, float]) -> None:
        for name, weight in weights.items():
            if not _TYPE_NAME.match(name):
                raise ValueError(f"{name!r} is not an event type name (lower_snake_case)")
            if name == RATING:
                raise ValueError("'rating' weighs its value; it takes no configured weight")
            # Negative weights are negative feedback (``dislike``): they subtract from the
            # interaction's sum. Zero would be an event that changes nothing: refused.
            if not (math.isfinite(weight) and weight != 0 and abs(weight) < WEIGHT_LIMIT):
                raise ValueError(
                    f"event type {name!r}: weight must be finite, non-zero and within "
                    f"(-{WEIGHT_LIMIT:g}, {WEIGHT_LIMIT:g}): {weight}"
                )
        self._weights: Mapping[str, float] = MappingProxyType(
            {name: float(weights[name]) for name in sorted(weights)}
        )
        self._types = tuple(sorted((*self._weights, RATING)))

    @property
    def types(self) -> tuple[str, ...]:
        """Every known type name, ``rating`` included, sorted."""
        return self._types

    @property
    def configured(self) -> Mapping[str, float]:
        """The configured types and weights (``rating`` excluded: it weighs its value)."""
        return self._weights

    def weight(self, type: str, value: float | None) -> float:
        """Weight one event adds: a rating's value, else its type's configured weight."""
        if type == RATING:
            if value is None:
                raise ValueError("a rating event needs a value")
            return float(value)
        try:
            return self._weights[type]
        except KeyError:
            raise ValueError(self._unknown(type)) from None

    def check(self, type: str, value: float | None) -> str | None:
        """None when (type, value) is a valid event, else what is wrong and what is allowed."""
        if type != RATING and type not in self._weights:
            return self._unknown(type)
        if value is not None and not (math.isfinite(value) and abs(value) <= VALUE_LIMIT):
            return (
                f"value must be a finite number in [-{VALUE_LIMIT:g}, {VALUE_LIMIT:g}], got {value}"
            )
        if type == RATING:
            if value is None:
                return f"a rating event needs a value in [{RATING_MIN:g}, {RATING_MAX:g}]"
            if not RATING_MIN <= value <= RATING_MAX:
                return f"rating value {value:g} is out of range [{RATING_MIN:g}, {RATING_MAX:g}]"
        return None

    def _unknown(self, type: str) -> str:
        return f"unknown event type {type!r}: expected one of {', '.join(self._types)}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventWeights) and dict(self._weights) == dict(other._weights)

    def __hash__(self) -> int:
        return hash(tuple(self._weights.items()))

    def __repr__(self) -> str:
        return f"EventWeights({dict(self._weights)!r})"
