"""How the queries apply recsys.events' rule: the weight of one stored event, in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, case, literal

from recsys.db.models import Event
from recsys.events import RATING, EventWeights


def pg_arrays(weights: EventWeights) -> tuple[list[str], list[float]]:
    """The configured types and weights as two parallel arrays (``unnest($1, $2)`` in SQL)."""
    return list(weights.configured), list(weights.configured.values())


def event_weight(weights: EventWeights) -> ColumnElement[Any]:
    """SQL for one event's weight: a rating's value, a known type's weight, else NULL.

    NULL (not 0) for a type no longer configured, so callers can drop such events entirely:
    an event whose type was removed from the configuration no longer counts at all.
    """
    whens: list[tuple[ColumnElement[bool], Any]] = [(Event.type == RATING, Event.value)]
    for name, weight in weights.configured.items():
        whens.append((Event.type == name, literal(weight, Float())))
    return case(*whens, else_=None)
