"""Top-K ranking and beyond-accuracy metrics over full rankings, per user.

Definitions (binary relevance). For a user u, ``R_u`` is the set of u's test items; the
candidates are every catalogue item (a movie in the train part) u has not interacted with in
train, all of them ranked (no sampled negatives). ``hit(i)`` is 1 when the item at rank i
(1-based) of u's list is in ``R_u``; a slot the model left empty (``PAD_ID``) is a miss.

- HR@K        = 1 if any of the top K is relevant, else 0.
- Precision@K = hits in the top K / K (empty slots count as misses).
- Recall@K    = hits in the top K / min(|R_u|, K). The truncated denominator (LensKit's and
  implicit's) lets a perfect ranking score 1 when |R_u| > K.
- NDCG@K      = DCG / IDCG with DCG = sum_{i<=K} hit(i) / log2(i + 1) and the ideal
  IDCG = sum_{i<=min(|R_u|, K)} 1 / log2(i + 1).
- AP@K        = sum_{i<=K} hit(i) * Precision@i / min(|R_u|, K); MAP@K is its mean.
- RR@K        = 1 / rank of the first relevant item within the top K, else 0; MRR@K its mean.
- AUC         = P(a relevant item scores above a non-relevant candidate), ties count 1/2,
  over all candidates (not truncated at K); items a model cannot score rank last, tied.
- limited AUC@K (implicit's "auc"): AUC where everything below the top K counts as tied.
- coverage@K  = distinct items in anybody's top K / catalogue size.
- novelty@K   = per user, the mean self-information -log2(p_i) of the recommended items, with
  p_i = share of train users who interacted with item i (Zhou et al. 2010).
- ILD@K       = intra-list diversity: per user, the mean of 1 - cos(genres_i, genres_j) over
  the pairs of the top K (0: all share the same genres; 1: no two share any), with the
  movies' 0/1 genre vectors (``recsys.modeling.diversity``).
- GenreCov@K  = per user, the share of the catalogue's genres that the top K covers.

Each per-user value is averaged over the evaluated users (users with at least one test item);
the intervals and paired tests over those users are in ``recsys.evaluation.statistics``.
Cross-check with ``implicit.evaluation.ranking_metrics_at_k``: its "ndcg" and "map" are the
means of NDCG@K and AP@K here; its "precision" is the micro average
sum_u hits_u / sum_u min(|R_u|, K), i.e. ``micro_recall``; its "auc" is
``limited_auc`` with ``n_negatives = n_items - |R_u|`` (implicit counts train items as
negatives too).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
IndexArray = npt.NDArray[np.intp]

LABELS = {
    "hr": "HR",
    "recall": "Recall",
    "precision": "Precision",
    "ndcg": "NDCG",
    "map": "MAP",
    "mrr": "MRR",
    "auc": "AUC",
    "novelty": "Novelty",
    "ild": "ILD",
    "genre_coverage": "GenreCov",
}


def metric_label(name: str, k: int) -> str:
    """Column title: ``NDCG@10``; AUC is not truncated, so no ``@K``."""
    return LABELS[name] if name == "auc" else f"{LABELS[name]}@{k}"


# -- hits ---------------------------------------------------------------------------------------


def hits_at(recommended: npt.ArrayLike, relevant: sp.csr_matrix) -> BoolArray:
    """(n, k) bool: is the item at each slot of ``recommended`` in that row of ``relevant``?

    ``recommended`` holds item indices (columns of ``relevant``), -1 for an empty slot.
    """
    recs = np.asarray(recommended, dtype=np.int64)
    if recs.ndim != 2 or recs.shape[0] != relevant.shape[0]:
        raise ValueError(
            f"recommended has shape {recs.shape}, expected ({relevant.shape[0]}, k) "
            "to match the relevant rows"
        )
    n_items = int(relevant.shape[1])
    if recs.size and int(recs.max(initial=-1)) >= n_items:
        raise ValueError(f"recommended holds item index {int(recs.max())} >= {n_items} items")
    rel = sp.csr_matrix(relevant)
    rel.sum_duplicates()  # also sorts each row's indices, so the keys below come out sorted
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices.astype(np.int64)
    query = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_items + recs
    pos = np.minimum(np.searchsorted(keys, query), max(keys.shape[0] - 1, 0))
    found = keys[pos] == query if keys.shape[0] else np.zeros(query.shape, dtype=np.bool_)
    return np.asarray(found & (recs >= 0), dtype=np.bool_)


def relevant_counts(relevant: sp.csr_matrix) -> IntArray:
    """|R_u| per row of a users x items relevance matrix."""
    rel = sp.csr_matrix(relevant)
    rel.sum_duplicates()
    return np.asarray(np.diff(rel.indptr), dtype=np.int64)


# -- per-user accuracy metrics ------------------------------------------------------------------


def hit_rate(hits: BoolArray) -> FloatArray:
    """HR@K per user: 1.0 when any of the K slots is relevant."""
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def precision(hits: BoolArray) -> FloatArray:
    """Precision@K per user: hits / K."""
    return np.asarray(hits.sum(axis=1) / float(hits.shape[1]), dtype=np.float64)


def recall(hits: BoolArray, n_relevant: IntArray) -> FloatArray:
    """Recall@K per user: hits / min(|R_u|, K)."""
    return np.asarray(hits.sum(axis=1) / _truncated(n_relevant, hits.shape[1]), dtype=np.float64)


def ndcg(hits: BoolArray, n_relevant: IntArray) -> FloatArray:
    """NDCG@K per user, binary relevance, ideal DCG over min(|R_u|, K) relevant items."""
    return ndcg_curve(hits, n_relevant)[:, -1]


def ndcg_curve(hits: BoolArray, n_relevant: IntArray) -> FloatArray:
    """(n, K) per-user NDCG@j for every cut-off j = 1..K at once."""
    k = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = np.cumsum(hits * discount, axis=1)
    ideal_sums = np.cumsum(discount)
    cutoffs = np.arange(1, k + 1)
    ideal_count = np.minimum(_checked_counts(n_relevant)[:, None], cutoffs[None, :])
    return np.asarray(dcg / ideal_sums[ideal_count - 1], dtype=np.float64)


def average_precision(hits: BoolArray, n_relevant: IntArray) -> FloatArray:
    """AP@K per user: sum of Precision@i at each hit i, over min(|R_u|, K)."""
    k = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    return np.asarray((precision_at * hits).sum(axis=1) / _truncated(n_relevant, k))


def reciprocal_rank(hits: BoolArray) -> FloatArray:
    """RR@K per user: 1 / rank of the first hit, 0 without a hit in the top K."""
    first = np.argmax(hits, axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def accuracy_metrics(hits: BoolArray, n_relevant: IntArray) -> dict[str, FloatArray]:
    """Every per-user top-K accuracy metric: hr, precision, recall, ndcg, map, mrr."""
    return {
        "hr": hit_rate(hits),
        "precision": precision(hits),
        "recall": recall(hits, n_relevant),
        "ndcg": ndcg(hits, n_relevant),
        "map": average_precision(hits, n_relevant),
        "mrr": reciprocal_rank(hits),
    }


def micro_recall(hits: BoolArray, n_relevant: IntArray) -> float:
    """sum_u hits_u / sum_u min(|R_u|, K): what implicit's ranking_metrics_at_k calls precision."""
    return float(hits.sum() / _truncated(n_relevant, hits.shape[1]).sum())


# -- AUC ----------------------------------------------------------------------------------------


def auc_from_ranking(
    scores: npt.ArrayLike,
    positive: BoolArray,
    *,
    n_candidates: IntArray,
    n_relevant: IntArray,
) -> FloatArray:
    """Per-user AUC over all candidates, from each user's full ranking (best first).

    ``scores`` (n, m) is sorted descending per row, -inf where the model scored nothing;
    ``positive`` marks relevant cells. Candidates missing from a row (the model cannot score
    them) and -inf cells rank last, tied with each other; equal finite scores count 1/2.
    NaN where a user has no relevant or no non-relevant candidate.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != positive.shape or s.ndim != 2:
        raise ValueError(f"scores {s.shape} and positive {positive.shape} must be equal 2-D shapes")
    n, m = s.shape
    finite = np.isfinite(s)
    pos = positive & finite
    neg = finite & ~positive
    if m:
        # Cells of a row with equal scores form one tie group (a run, as rows are sorted).
        new_group = np.ones((n, m), dtype=np.bool_)
        new_group[:, 1:] = s[:, 1:] != s[:, :-1]
        group = np.cumsum(new_group, axis=1) - 1
        flat = (group + np.arange(n)[:, None] * m).ravel()
        group_neg = np.bincount(flat, weights=neg.ravel(), minlength=n * m).reshape(n, m)
        neg_through = np.cumsum(group_neg, axis=1)
        total_neg = neg_through[:, -1]
        tied = np.take_along_axis(group_neg, group, axis=1)
        below = total_neg[:, None] - np.take_along_axis(neg_through, group, axis=1)
        credit_finite = ((below + 0.5 * tied) * pos).sum(axis=1)
        n_pos_finite = pos.sum(axis=1)
        n_finite = finite.sum(axis=1)
    else:
        credit_finite = np.zeros(n)
        n_pos_finite = np.zeros(n, dtype=np.int64)
        n_finite = np.zeros(n, dtype=np.int64)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    pos_tail = n_rel - n_pos_finite
    neg_tail = np.asarray(n_candidates, dtype=np.float64) - n_finite - pos_tail
    if np.any(pos_tail < 0) or np.any(neg_tail < 0):
        raise ValueError("n_candidates / n_relevant are smaller than the ranked cells they cover")
    credit = credit_finite + n_pos_finite * neg_tail + 0.5 * pos_tail * neg_tail
    n_neg = np.asarray(n_candidates, dtype=np.float64) - n_rel
    denominator = n_rel * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, credit / denominator, np.nan)


def limited_auc(hits: BoolArray, n_relevant: IntArray, n_negatives: IntArray) -> FloatArray:
    """implicit's AUC@K: pairs below the top K count as tied (1/2); empty slots are misses."""
    k = hits.shape[1]
    n_pos = np.asarray(n_relevant, dtype=np.float64)
    n_neg = np.asarray(n_negatives, dtype=np.float64)
    hits_before = np.cumsum(hits, axis=1)
    ordered = (hits_before * ~hits).sum(axis=1)
    n_hits = hits_before[:, -1] if k else np.zeros(hits.shape[0])
    misses = k - n_hits
    credit = ordered + (n_hits + n_pos) / 2.0 * (n_neg - misses)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos * n_neg > 0, credit / (n_pos * n_neg), np.nan)


# -- beyond accuracy ----------------------------------------------------------------------------


def item_coverage(recommended: npt.ArrayLike, n_items: int) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one row (-1 slots ignored)."""
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, got {n_items}")
    recs = np.asarray(recommended, dtype=np.int64).ravel()
    return float(np.unique(recs[recs >= 0]).shape[0] / n_items)


def self_information(item_users: npt.ArrayLike, n_users: int) -> FloatArray:
    """-log2(p_i) per item, p_i = train users of item i / ``n_users`` (items need p_i > 0)."""
    counts = np.asarray(item_users, dtype=np.float64)
    if n_users < 1 or np.any(counts <= 0) or np.any(counts > n_users):
        raise ValueError("item user counts must be in [1, n_users]")
    return np.asarray(-np.log2(counts / n_users), dtype=np.float64)


def novelty(recommended: npt.ArrayLike, information: FloatArray) -> FloatArray:
    """Per-user mean self-information of the recommended items; NaN for an empty list."""
    recs = np.asarray(recommended, dtype=np.int64)
    valid = recs >= 0
    values = np.where(valid, information[np.where(valid, recs, 0)], 0.0)
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, values.sum(axis=1) / count, np.nan)


# -- helpers ------------------------------------------------------------------------------------


def _checked_counts(n_relevant: IntArray) -> IntArray:
    counts = np.asarray(n_relevant, dtype=np.int64)
    if np.any(counts < 1):
        raise ValueError("every evaluated user needs at least one relevant (test) item")
    return counts


def _truncated(n_relevant: IntArray, k: int) -> FloatArray:
    return np.minimum(_checked_counts(n_relevant), k).astype(np.float64)
