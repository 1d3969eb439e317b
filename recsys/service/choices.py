"""The names the CLI's options offer and check, importable without numpy, pandas or a model.

Each comes from the module that owns it (all of them light), so there is no copy to keep in
sync; ``tests/unit/test_cli_startup.py`` checks that ``recsys --help`` imports nothing heavy.
"""

from __future__ import annotations

from recsys.evaluation.choices import (
    FEEDBACKS,
    MAX_FOLDS,
    MAX_WINDOWS,
    PROTOCOLS,
    TUNING_METRICS,
    Feedback,
)
from recsys.modeling.engines import ENGINES, Engine, check_engine
from recsys.modeling.registry import (
    MODEL_TYPES,
    UnknownModelTypeError,
    check_model_type,
    missing_package,
    trainable_model_types,
)
from recsys.modeling.weighting import WEIGHTING_KINDS, WeightingKind

__all__ = [
    "ENGINES",
    "FEEDBACKS",
    "MAX_FOLDS",
    "MAX_WINDOWS",
    "MODEL_TYPES",
    "PROTOCOLS",
    "TUNING_METRICS",
    "WEIGHTING_KINDS",
    "Engine",
    "Feedback",
    "UnknownModelTypeError",
    "WeightingKind",
    "check_engine",
    "check_model_type",
    "missing_package",
    "trainable_model_types",
]
