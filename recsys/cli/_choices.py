"""The choices the CLI's options name in their help, as plain constants.

Each is a copy of a value owned by a heavy module (the model registry imports implicit, scipy,
pandas and lightgbm): building ``recsys --help`` must not import those. A model type is still
checked against the real registry when a command runs; tests/unit/test_cli_startup.py checks
that every copy here equals its source.
"""

from __future__ import annotations

from typing import Final

# recsys.modeling.registry.MODEL_TYPES, in registration order.
MODEL_TYPES: Final = (
    "als",
    "bpr",
    "cooccurrence",
    "ease",
    "item_knn",
    "popularity",
    "random",
    "recent_knn",
    "recent_popularity",
    "svd",
    "transitions",
    "two_stage",
)
# recsys.modeling.dataset.WEIGHTING_KINDS.
WEIGHTING_KINDS: Final = ("binary", "rating", "threshold", "confidence", "bm25")
# recsys.evaluation.splits.PROTOCOLS.
PROTOCOLS: Final = ("leave-last-out", "temporal", "random")
# The keys of recsys.evaluation.tuning.SEARCH_SPACES: the model types `recsys tune` searches.
TUNABLE_MODEL_TYPES: Final = ("als", "bpr", "ease", "svd", "item_knn", "cooccurrence")
# recsys.evaluation.tuning.TUNING_METRICS and MAX_FOLDS.
TUNING_METRICS: Final = ("ndcg", "hr", "recall", "precision", "map", "mrr", "auc")
MAX_FOLDS: Final = 5
# recsys.evaluation.simulate.FEEDBACKS and MAX_WINDOWS.
FEEDBACKS: Final = ("all", "clicks")
MAX_WINDOWS: Final = 50
