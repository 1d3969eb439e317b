"""Our ALS parameters (implicit's conventions) -> pyspark.ml.recommendation.ALS's.

Both fit Hu, Koren & Volinsky's implicit-feedback model, but they write it differently:

- confidence: implicit multiplies the weighted matrix by ``alpha`` and uses the product as the
  confidence of a present entry, c = alpha * w (absent entries: c = 1, p = 0). Spark uses
  c = 1 + alpha_s * r. Feeding Spark r = alpha * w - 1 with alpha_s = 1 gives the same c for
  every entry where alpha * w > 1 (every ``confidence``-weighted rating at the default alpha:
  1 + 0.5 star = 1.5, x 0.779 = 1.17). Where alpha * w <= 1, Spark would read r <= 0 as
  "not preferred" (p = 0), so r is clamped to ``MIN_RATING`` (c ~ 1, p = 1): implicit's fit
  gives such an entry a confidence below an absent one's, which Spark cannot express.
- regularisation: implicit adds lambda |x|^2 for every user and item vector; Spark's ALS-WR
  adds regParam * n |x|^2, n being that user's (item's) count of interactions. No regParam
  makes the two equal for every vector; ``map_params`` picks the one that makes the total
  penalty equal when all vectors have the same norm:
  regParam = lambda * (users + items) / (2 * nnz). A user with the mean count then gets
  lambda * (users + items) / (2 * users) (1.39 lambda on ML-100K); heavy users more, light less.
- solver: implicit's CPU ALS takes 3 conjugate-gradient steps per vector and iteration, Spark
  solves each normal-equation system exactly (Cholesky); Spark starts from unit-norm Gaussian
  vectors, implicit from small uniform ones. Same seed, different random streams.
- serving does not change: fold-in (``als_fold_in``) solves each request's user with implicit's
  objective and the stored ``regularization`` / ``alpha``, against Spark's item factors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from recsys.modeling.als import ALSParams

# Spark's rating for an entry whose implicit confidence alpha * w is <= 1 (see the module doc).
MIN_RATING = 1e-6


@dataclass(frozen=True, kw_only=True)
class SparkALSParams:
    """The arguments ``pyspark.ml.recommendation.ALS`` is built with, plus the rating transform."""

    rank: int
    maxIter: int  # noqa: N815 - Spark's own parameter names, so the manifest reads as Spark's
    regParam: float  # noqa: N815
    alpha: float
    seed: int
    implicitPrefs: bool = True  # noqa: N815
    nonnegative: bool = False
    # Spark's rating column is rating_scale * weight - 1 (clamped to MIN_RATING).
    rating_scale: float = 1.0
    numUserBlocks: int = 10  # noqa: N815
    numItemBlocks: int = 10  # noqa: N815
    checkpointInterval: int = 10  # noqa: N815

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the manifest's ``training.spark.params``)."""
        return asdict(self)

    def als_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ALS(...)`` (everything but the rating transform)."""
        kwargs = self.to_dict()
        kwargs.pop("rating_scale")
        return kwargs


def map_params(
    params: ALSParams, *, n_users: int, n_items: int, nnz: int, blocks: int = 10
) -> SparkALSParams:
    """Spark's ALS parameters for ``params`` on a users x items matrix with ``nnz`` entries."""
    if min(n_users, n_items, nnz) < 1:
        raise ValueError(f"empty matrix: {n_users} users, {n_items} items, {nnz} interactions")
    return SparkALSParams(
        rank=params.factors,
        maxIter=params.iterations,
        regParam=params.regularization * (n_users + n_items) / (2.0 * nnz),
        alpha=1.0,
        seed=params.random_state,
        rating_scale=params.alpha,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )
