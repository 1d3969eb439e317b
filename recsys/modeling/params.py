"""Typed, validated model parameters: one frozen dataclass per model type."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Self


class ModelParams:
    """Base of every model's frozen params dataclass; subclasses validate in ``__post_init__``."""

    model_type: ClassVar[str] = "model"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the parameters."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Build from a mapping; unknown names raise ``ValueError`` listing the allowed ones."""
        allowed = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(
                f"{cls.model_type}: unknown parameter(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed)) or '(none)'}"
            )
        return cls(**values)


def check_int(owner: str, name: str, value: object, *, low: int, high: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    # bool is an int subclass; True as a factor count is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{owner}.{name} must be an integer in [{low}, {high}], got {value!r}")


def check_float(
    owner: str,
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number in the range."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = (number > low if low_open else number >= low) and number <= high
    if not ok:
        bracket = "(" if low_open else "["
        upper = "inf)" if math.isinf(high) else f"{high:g}]"
        raise ValueError(
            f"{owner}.{name} must be a number in {bracket}{low:g}, {upper}, got {value!r}"
        )


def check_choice(owner: str, name: str, value: object, choices: Collection[str]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{owner}.{name} must be one of {', '.join(sorted(choices))}, got {value!r}"
        )
