"""Tuning search-space dimensions: each tunable model class names its space with these.

They live in modeling (not evaluation) so that a model class can carry its own space
(``Recommender.search_space``) without modeling importing evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of values, each equally likely."""

    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        """One value."""
        return self.values[int(rng.integers(len(self.values)))]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"choice": list(self.values)}


@dataclass(frozen=True)
class LogUniform:
    """A number whose logarithm is uniform in [log low, log high]; integers are rounded."""

    low: float
    high: float
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> float | int:
        """One value (floats kept to 3 significant digits, so defaults stay readable)."""
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.integer:
            return int(min(max(round(value), self.low), self.high))
        return _three_digits(value)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"log_uniform": [self.low, self.high], "integer": self.integer}


@dataclass(frozen=True)
class Uniform:
    """A number uniform in [low, high] (3 significant digits)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        """One value."""
        return _three_digits(rng.uniform(self.low, self.high))

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"uniform": [self.low, self.high]}


Dimension = Choice | LogUniform | Uniform
SearchSpace = Mapping[str, Dimension]

# Smallest neighbourhood the item-item models may ship with. Only the k strongest neighbours
# of a movie can ever be recommended from it: with fewer than 20, a user with one or two rated
# movies gets a short top 10, and /movies/{id}/similar?k=10 fewer than 10 movies. (On ML-100K
# leave-last-out, 6-10 neighbours scored best: reports/tuning/README.md.)
MIN_NEIGHBOURS = 20


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")
