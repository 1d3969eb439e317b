"""Search spaces of the tunable model types, and seeded random draws of configurations from them.

The search that scores the configurations on validation folds is ``recsys.evaluation.tuning_run``.

Random search rather than a sequential optimiser (optuna's TPE): the spaces have one to four
dimensions, a trial costs about a second on ML-100K, and the validation metric's own noise
(NDCG@10 ± 0.01 over ~940 users) is larger than what a smarter sampler would gain; a seeded
draw is reproducible, dependency-free and easy to describe in the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.modeling.registry import model_class

# Draws tried for a configuration not seen before, before the space counts as exhausted.
_FRESH_DRAWS = 200


# -- search spaces ------------------------------------------------------------------------------


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
_MIN_NEIGHBOURS = 20

# What each tunable model type searches over; seeds and resource limits (random_state,
# num_threads, max_items) are fixed, not tuned. Ranges span the values the literature and
# implicit's examples use, widened by a factor of a few on each side.
SEARCH_SPACES: Mapping[str, SearchSpace] = {
    "als": {
        "factors": Choice((16, 32, 64, 128, 192, 256)),
        "regularization": LogUniform(1e-3, 10.0),
        # Multiplies the 1 + rating confidence weights (2..6 on 1-5 stars). From 0.5 up, so
        # that a rated movie never weighs less than an unrated one (confidence 1), the premise
        # of Hu, Koren & Volinsky's model; below it the fit inverts that premise.
        "alpha": LogUniform(0.5, 50.0),
        "iterations": Choice((10, 15, 20, 30)),
    },
    "bpr": {
        # Capped at 128 factors and 200 epochs: single-threaded SGD (for reproducibility)
        # makes larger trials cost 10-20 s each on ML-100K.
        "factors": Choice((32, 64, 128)),
        "learning_rate": LogUniform(0.003, 0.3),
        "regularization": LogUniform(1e-4, 0.3),
        "iterations": Choice((50, 100, 200)),
    },
    "ease": {"l2": LogUniform(10.0, 5000.0)},
    "svd": {"factors": LogUniform(4, 400, integer=True)},
    "item_knn": {
        "similarity": Choice(("cosine", "bm25", "itemitem")),
        "k": LogUniform(_MIN_NEIGHBOURS, 1000, integer=True),
        "bm25_k1": LogUniform(0.1, 10.0),
        "bm25_b": Uniform(0.0, 1.0),
    },
    "cooccurrence": {
        "normalize": Choice(("none", "jaccard")),
        "k": LogUniform(_MIN_NEIGHBOURS, 1000, integer=True),
    },
}


def search_space(model_type: str) -> SearchSpace:
    """The search space of ``model_type``; ``ValueError`` names the tunable ones."""
    model_class(model_type)
    try:
        return SEARCH_SPACES[model_type]
    except KeyError:
        raise ValueError(
            f"{model_type} has no hyper-parameters to tune; tunable model types: "
            f"{', '.join(sorted(SEARCH_SPACES))}"
        ) from None


def describe_space(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """JSON-ready description of a search space."""
    return {name: dimension.describe() for name, dimension in space.items()}


def default_params(model_type: str) -> dict[str, Any]:
    """The shipped defaults of ``model_type`` (its params dataclass with no arguments)."""
    return model_class(model_type).params_type().to_dict()


def sample_configurations(
    space: SearchSpace, *, n: int, seed: int, first: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``n`` distinct configurations drawn with ``seed`` (``first``, if given, leads).

    Fewer come back when a small discrete space runs out of new configurations.
    """
    rng = np.random.default_rng(seed)
    names = sorted(space)
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    if first is not None:
        out.append({name: first[name] for name in names})
        seen.add(tuple(first[name] for name in names))
    while len(out) < n:
        for _ in range(_FRESH_DRAWS):
            draw = {name: space[name].sample(rng) for name in names}
            key = tuple(draw.values())
            if key not in seen:
                break
        else:
            return out
        seen.add(key)
        out.append(draw)
    return out


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")
