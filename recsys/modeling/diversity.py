"""Diversity: maximal marginal relevance re-ranking, and the two offline diversity measures.

MMR (Carbonell and Goldstein, 1998) picks, one at a time, the candidate that maximises
``(1 - d) * relevance - d * max similarity to the movies already picked``, where ``d`` is the
request's ``diversify`` (0..1) and relevance is the model's score min-max scaled over the
candidate pool (so ``d`` weighs the same whatever a model's score scale). ``d = 0`` keeps the
model's order exactly. Similarity is the cosine of the movies' genre vectors: every model type
has genres, and two movies sharing all their genres are the redundancy a user notices.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import FloatArray, IndexArray

# Candidates MMR chooses from: this many times k (at least POOL_MIN), best first by the model.
POOL_FACTOR = 4
POOL_MIN = 50


def pool_size(k: int, n_items: int) -> int:
    """How many of the model's best items a ``diversify`` request re-ranks."""
    return max(1, min(n_items, max(k * POOL_FACTOR, POOL_MIN)))


def unit_rows(features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero: similar to nothing)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = np.divide(
        features, norms, out=np.zeros_like(features), where=norms > 0
    ).astype(np.float32, copy=False)
    return out


def mmr(
    candidates: IndexArray,
    scores: FloatArray,
    unit_features: npt.NDArray[np.float32],
    k: int,
    diversify: float,
) -> tuple[IndexArray, FloatArray]:
    """The k candidates MMR picks, in pick order, with their model scores.

    ``candidates`` are item indices best first (``scores`` theirs), ``unit_features`` one
    unit-length row per item of the model. Ties go to the candidate the model ranked higher.
    """
    if not 0.0 <= diversify <= 1.0:
        raise ValueError(f"diversify must be in [0, 1], got {diversify}")
    n = candidates.shape[0]
    kk = min(k, n)
    if diversify == 0.0 or kk <= 1:
        return candidates[:kk], scores[:kk]
    values = scores.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    relevance = (values - low) / (high - low) if high > low else np.ones(n)
    vectors = unit_features[candidates].astype(np.float64)
    closest = np.zeros(n)  # max similarity to the picked ones
    free = np.ones(n, dtype=np.bool_)
    picked: list[int] = []
    for _ in range(kk):
        gain = np.where(free, (1.0 - diversify) * relevance - diversify * closest, -np.inf)
        best = int(np.argmax(gain))  # first of equal gains: the model's better one
        picked.append(best)
        free[best] = False
        np.maximum(closest, vectors @ vectors[best], out=closest)
    order = np.asarray(picked, dtype=np.intp)
    return candidates[order], scores[order]


def intra_list_diversity(top: IndexArray, unit_features: npt.NDArray[np.float32]) -> FloatArray:
    """Per row of ``top`` (item indices, -1 padding), the mean of ``1 - cosine`` over pairs.

    NaN for rows with fewer than two items.
    """
    out = np.full(top.shape[0], np.nan, dtype=np.float32)
    for r in range(top.shape[0]):
        items = top[r][top[r] >= 0]
        m = items.shape[0]
        if m < 2:
            continue
        v = unit_features[items].astype(np.float64)
        similarity = v @ v.T
        pairs = (similarity.sum() - np.trace(similarity)) / 2.0
        out[r] = 1.0 - pairs / (m * (m - 1) / 2.0)
    return out


def genre_coverage(top: IndexArray, genres: npt.NDArray[np.float32]) -> FloatArray:
    """Per row of ``top`` (item indices, -1 padding), the share of all genres its items cover."""
    n_genres = genres.shape[1]
    out = np.zeros(top.shape[0], dtype=np.float32)
    if n_genres == 0:
        return out
    valid = top >= 0
    rows = np.repeat(np.arange(top.shape[0]), valid.sum(axis=1))
    covered = np.zeros((top.shape[0], n_genres), dtype=np.bool_)
    hit = genres[top[valid]] > 0
    np.logical_or.at(covered, rows, hit)
    out[:] = covered.sum(axis=1) / n_genres
    return out
