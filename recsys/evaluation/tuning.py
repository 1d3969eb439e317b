"""The search spaces of the tunable model types, and seeded random draws of configurations.

Each model class carries its space (``Recommender.search_space``, dimensions from
``recsys.modeling.search``); this module reads them and draws from them.

The search that scores the configurations on validation folds is ``recsys.evaluation.tuning_run``.

Random search rather than a sequential optimiser (optuna's TPE): the spaces have one to four
dimensions, a trial costs about a second on ML-100K, and the validation metric's own noise
(NDCG@10 ± 0.01 over ~940 users) is larger than what a smarter sampler would gain; a seeded
draw is reproducible, dependency-free and easy to describe in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys.modeling.registry import MODEL_TYPES, model_class
from recsys.modeling.search import SearchSpace

# Draws tried for a configuration not seen before, before the space counts as exhausted.
_FRESH_DRAWS = 200


def search_space(model_type: str) -> SearchSpace:
    """The search space of ``model_type``; ``ValueError`` names the tunable ones."""
    space = model_class(model_type).search_space
    if space is None:
        raise ValueError(
            f"{model_type} has no hyper-parameters to tune; tunable model types: "
            f"{', '.join(sorted(_tunable_model_types()))}"
        )
    return space


def _tunable_model_types() -> tuple[str, ...]:
    """Model types whose class has a search space (imports every model class)."""
    return tuple(name for name in MODEL_TYPES if model_class(name).search_space is not None)


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
