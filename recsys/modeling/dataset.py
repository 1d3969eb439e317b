"""Interactions -> a weighted users x items CSR matrix with sorted id vocabularies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from recsys.data.fingerprint import interactions_fingerprint
from recsys.data.frames import Interactions
from recsys.modeling.items import ItemAttributes
from recsys.modeling.params import check_choice, check_float
from recsys.modeling.weighting import WEIGHTING_KINDS, WeightingKind

if TYPE_CHECKING:
    from recsys.modeling.sequences import Sequences

IdArray = npt.NDArray[np.int64]
IndexArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# _factorize uses a lookup table (9 bytes per id in the id range) when the range holds at most
# this many ids per row, or _DENSE_SPAN_MIN ids; sparser ids go through np.unique's sort.
_DENSE_SPAN_PER_ROW = 4
_DENSE_SPAN_MIN = 1 << 20
# The weightings _grouped_matrix writes directly (threshold drops rows, bm25 needs column sums).
_DIRECT_KINDS = frozenset({"binary", "rating", "confidence"})
# Rows per slice in the direct CSR build: bounds its temporaries at a few MiB at any size.
_CHUNK = 1 << 20


def lookup(vocabulary: IdArray, ids: npt.ArrayLike) -> IndexArray:
    """Positions of ``ids`` in the sorted ``vocabulary``; -1 where an id is unknown."""
    query = np.asarray(ids, dtype=np.int64)
    if vocabulary.shape[0] == 0:
        return np.full(query.shape, -1, dtype=np.intp)
    pos = np.searchsorted(vocabulary, query)
    pos = np.minimum(pos, vocabulary.shape[0] - 1)
    return np.where(vocabulary[pos] == query, pos, -1).astype(np.intp, copy=False)


def lookup_one(vocabulary: IdArray, id_: int) -> int:
    """``lookup`` of a single id, without the array round trips (the per-request user id)."""
    pos = int(vocabulary.searchsorted(id_))
    return pos if pos < vocabulary.shape[0] and int(vocabulary[pos]) == id_ else -1


def sorted_contains(values: npt.NDArray[Any], queries: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Which ``queries`` are in the sorted ``values`` (a binary search; ``np.isin`` sorts)."""
    if values.shape[0] == 0:
        return np.zeros(queries.shape, dtype=np.bool_)
    at = np.minimum(values.searchsorted(queries), values.shape[0] - 1)
    found: npt.NDArray[np.bool_] = values[at] == queries
    return found


@dataclass(frozen=True)
class Weighting:
    """How raw ratings become matrix weights (also applied to request-time histories)."""

    kind: WeightingKind = "confidence"
    # confidence: 1 + alpha * rating (Hu, Koren & Volinsky 2008).
    alpha: float = 1.0
    # threshold: rating >= threshold -> 1, anything lower is dropped.
    threshold: float = 4.0
    # bm25: implicit's bm25_weight defaults (tuned for play counts).
    bm25_k1: float = 100.0
    bm25_b: float = 0.8

    def __post_init__(self) -> None:
        check_choice("weighting", "kind", self.kind, WEIGHTING_KINDS)
        check_float("weighting", "alpha", self.alpha, low=0.0, low_open=True)
        check_float("weighting", "threshold", self.threshold, low=-math.inf)
        check_float("weighting", "bm25_k1", self.bm25_k1, low=0.0, low_open=True)
        check_float("weighting", "bm25_b", self.bm25_b, low=0.0, high=1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "alpha": self.alpha,
            "threshold": self.threshold,
            "bm25_k1": self.bm25_k1,
            "bm25_b": self.bm25_b,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Weighting:
        """Inverse of ``to_dict``."""
        return cls(**values)


@dataclass(frozen=True)
class FittedWeighting:
    """A ``Weighting`` plus the training statistics bm25 needs to weigh new histories."""

    spec: Weighting
    # Per-item BM25 length norm from the training matrix; empty for the other kinds.
    item_length_norm: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def apply(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Weigh a users x items CSR of raw ratings (in this matrix's item space)."""
        out = sp.csr_matrix(raw, dtype=np.float32, copy=True)
        kind = self.spec.kind
        if kind == "binary":
            # The sign, not 1: a disliked movie (a negative sum) weighs -1 against its
            # neighbours; a sum of exactly 0 (liked, then disliked) weighs nothing.
            out.data = np.sign(out.data).astype(np.float32)
            out.eliminate_zeros()
        elif kind == "threshold":
            # Negative sums are below any threshold: dropped (clipped to zero).
            out.data = (out.data >= self.spec.threshold).astype(np.float32)
            out.eliminate_zeros()
        elif kind == "confidence":
            out.data = _signed_confidence(out.data, self.spec.alpha)
        elif kind == "bm25":
            out = self._bm25(out)
        return out

    def apply_row(
        self, cols: IndexArray, raw: FloatArray, *, n_items: int
    ) -> tuple[IndexArray, FloatArray]:
        """``apply`` for one history row in numpy: (kept columns, their float32 weights).

        ``cols`` are sorted unique item indices and ``raw`` their summed ratings; the same
        arithmetic as ``apply`` on a one-row matrix, so the weights are bit-identical.
        """
        kind = self.spec.kind
        values = np.asarray(raw, dtype=np.float32)
        if kind == "binary":
            keep = values != 0
            return cols[keep], np.sign(values[keep]).astype(np.float32)
        if kind == "threshold":
            weights = (values >= self.spec.threshold).astype(np.float32)
            keep = weights != 0
            return cols[keep], weights[keep]
        if kind == "confidence":
            return cols, _signed_confidence(values, self.spec.alpha)
        if kind == "bm25":
            k1 = self.spec.bm25_k1
            idf = np.log(float(n_items)) - np.log1p(float(cols.shape[0]))
            data = values.astype(np.float64)
            size = np.abs(data)
            norm = self.item_length_norm[cols].astype(np.float64)
            weighted = np.sign(data) * size * (k1 + 1.0) / (k1 * norm + size) * idf
            return cols, weighted.astype(np.float32)
        return cols, values.copy()

    def _bm25(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        # implicit's bm25_weight on the items x users matrix, written per user row so that a
        # history unseen at training gets the weights its row would have had.
        k1 = self.spec.bm25_k1
        n_items = raw.shape[1]
        per_user = np.diff(raw.indptr)
        idf = np.log(float(n_items)) - np.log1p(per_user.astype(np.float64))
        rows = np.repeat(np.arange(raw.shape[0]), per_user)
        data = raw.data.astype(np.float64)
        # On the magnitude, with the sign kept: a dislike weighs as much, against.
        size = np.abs(data)
        norm = self.item_length_norm[raw.indices].astype(np.float64)
        weighted = np.sign(data) * size * (k1 + 1.0) / (k1 * norm + size) * idf[rows]
        return sp.csr_matrix(
            (weighted.astype(np.float32), raw.indices.copy(), raw.indptr.copy()), shape=raw.shape
        )


@dataclass(frozen=True)
class InteractionMatrix:
    """Users x items weights (float32 CSR) with the sorted id vocabularies of its rows/columns."""

    user_items: sp.csr_matrix
    user_ids: IdArray
    item_ids: IdArray
    weighting: FittedWeighting
    # sha256 of the interactions the matrix was built from (see ``fingerprint``).
    fingerprint: str
    n_interactions: int
    # The rows the matrix was built from (timestamps included; a reference, not a copy), for
    # sequence-aware models; None when the matrix was assembled some other way.
    source: Interactions | None = None
    # Movie years and genres, for models that read them (``needs_items``).
    items: ItemAttributes | None = None
    # ``training_sequences`` of ``source`` when the builder already has them (two_stage's
    # sources: a sort of every row saved per source); None: built from ``source`` on demand.
    sequences: Sequences | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(users, items)."""
        return (int(self.user_items.shape[0]), int(self.user_items.shape[1]))

    @property
    def nnz(self) -> int:
        """Number of stored (user, item) weights."""
        return int(self.user_items.nnz)

    def user_index(self, user_ids: npt.ArrayLike) -> IndexArray:
        """Row of each user id; -1 for users not in the matrix."""
        return lookup(self.user_ids, user_ids)

    def item_index(self, movie_ids: npt.ArrayLike) -> IndexArray:
        """Column of each movie id; -1 for movies not in the matrix."""
        return lookup(self.item_ids, movie_ids)

    def data_info(self) -> dict[str, Any]:
        """What a manifest records about the training data."""
        n_users, n_items = self.shape
        return {
            "fingerprint": self.fingerprint,
            "n_interactions": self.n_interactions,
            "n_users": n_users,
            "n_items": n_items,
            "nnz": self.nnz,
            "weighting": self.weighting.spec.to_dict(),
        }


def _signed_confidence(values: npt.NDArray[np.float32], alpha: float) -> FloatArray:
    """``1 + alpha * r`` for r >= 0, ``-(1 + alpha * |r|)`` for a negative sum (a dislike).

    implicit's convention: a negative confidence means preference 0 held with confidence
    ``|value|`` (``als_fold_in`` and implicit's ALS solver both read it so).
    """
    confidence = (1.0 + alpha * np.abs(values)).astype(np.float32)
    return np.where(values < 0, -confidence, confidence).astype(np.float32)


def positive_part(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` without its cells <= 0: what models that cannot learn from dislikes train on."""
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data[out.data < 0] = 0.0
    out.eliminate_zeros()
    return out


def without_negatives(matrix: InteractionMatrix) -> InteractionMatrix:
    """``matrix`` with its negative cells (and source rows) dropped; itself if it has none.

    The vocabularies stay: a movie only ever disliked keeps its column, with no interactions.
    """
    if matrix.user_items.data.min(initial=0.0) >= 0:
        return matrix
    source = matrix.source
    if source is not None:
        keep = np.asarray(source.ratings) > 0
        source = Interactions(
            user_ids=source.user_ids[keep],
            movie_ids=source.movie_ids[keep],
            ratings=source.ratings[keep],
            timestamps=source.timestamps[keep],
        )
    return replace(matrix, user_items=positive_part(matrix.user_items), source=source)


def build_matrix(
    interactions: Interactions,
    *,
    weighting: WeightingKind = "confidence",
    alpha: float = 1.0,
    threshold: float = 4.0,
    bm25_k1: float = 100.0,
    bm25_b: float = 0.8,
    items: ItemAttributes | None = None,
) -> InteractionMatrix:
    """Build the weighted users x items matrix; duplicates or non-finite ratings raise.

    The matrix keeps ``interactions`` as its ``source`` and ``items`` for the models that read
    timestamps, years or genres.
    """
    spec = Weighting(
        kind=weighting, alpha=alpha, threshold=threshold, bm25_k1=bm25_k1, bm25_b=bm25_b
    )
    users, movies, ratings = _validated_columns(interactions)
    if spec.kind == "threshold":
        keep = ratings >= spec.threshold
        users, movies, ratings = users[keep], movies[keep], ratings[keep]
        if users.shape[0] == 0:
            raise ValueError(f"no rating is >= threshold {spec.threshold:g}; nothing to train on")

    grouped = None
    # Dislikes (sums <= 0) take the COO path, whose weighting keeps the sign and drops zeros.
    positive = float(ratings.min()) > 0
    if spec.kind in _DIRECT_KINDS and positive and is_strictly_sorted_by_pair(users, movies):
        grouped = _grouped_matrix(users, movies, ratings, spec)
    if grouped is not None:
        user_ids, item_ids, user_items = grouped
        fitted = FittedWeighting(spec)
    else:
        user_ids, item_ids, user_items, fitted = _coo_matrix(users, movies, ratings, spec)
    return InteractionMatrix(
        user_items=user_items,
        user_ids=user_ids.astype(np.int64, copy=False),
        item_ids=item_ids.astype(np.int64, copy=False),
        weighting=fitted,
        fingerprint=interactions_fingerprint(interactions),
        n_interactions=len(interactions),
        source=interactions,
        items=items,
    )


def _coo_matrix(
    users: IdArray, movies: IdArray, ratings: FloatArray, spec: Weighting
) -> tuple[IdArray, IdArray, sp.csr_matrix, FittedWeighting]:
    """Rows in any order: factorise both columns, COO -> CSR, sum to detect duplicates, weigh."""
    user_ids, rows = _factorize(users)
    item_ids, cols = _factorize(movies)
    shape = (user_ids.shape[0], item_ids.shape[0])
    raw = sp.csr_matrix((ratings, (rows, cols)), shape=shape, dtype=np.float32)
    del rows, cols
    raw.sum_duplicates()
    if raw.nnz != users.shape[0]:
        raise _duplicate_error(users, movies)

    if spec.kind == "bm25":
        # Same orientation as implicit's examples and BM25Recommender: items are the documents.
        # On the magnitudes, the sign put back after: a dislike weighs against, as strongly.
        size = abs(raw)
        user_items = sp.csr_matrix(bm25_weight(size.T, K1=spec.bm25_k1, B=spec.bm25_b).T)
        user_items = user_items.astype(np.float32)
        user_items.sort_indices()
        if raw.data.min(initial=0.0) < 0:
            user_items = user_items.multiply(raw.sign()).tocsr()
            user_items = user_items.astype(np.float32)
            user_items.sort_indices()
        item_sums = np.asarray(size.sum(axis=0), dtype=np.float64).ravel()
        norm = (1.0 - spec.bm25_b) + spec.bm25_b * item_sums / item_sums.mean()
        fitted = FittedWeighting(spec, norm.astype(np.float32))
    else:
        fitted = FittedWeighting(spec)
        user_items = fitted.apply(raw)
    return user_ids, item_ids, user_items, fitted


def is_strictly_sorted_by_pair(users: IdArray, movies: IdArray) -> bool:
    """True when the rows are strictly increasing by (user, movie): grouped, no duplicates."""
    n = int(users.shape[0])
    for start in range(0, max(n - 1, 0), _CHUNK):
        # Slices overlap by one row so every adjacent pair is compared once, a few MiB at a time.
        stop = min(start + _CHUNK + 1, n)
        u0, u1 = users[start : stop - 1], users[start + 1 : stop]
        m0, m1 = movies[start : stop - 1], movies[start + 1 : stop]
        if not bool(((u1 > u0) | ((u1 == u0) & (m1 > m0))).all()):
            return False
    return True


def _grouped_matrix(
    users: IdArray, movies: IdArray, ratings: FloatArray, spec: Weighting
) -> tuple[IdArray, IdArray, sp.csr_matrix] | None:
    """The weighted CSR written straight from rows sorted by (user, movie); None if unsuited.

    What a seeded table's scan returns. The COO path holds two intp position columns
    (16 B/row), their int32 copies (8) and the raw CSR beside its weighted copy (16) at its peak;
    here the CSR's own arrays (8 B/row) are all that is allocated per row, filled in slices.
    The result equals the COO path's: same vocabularies, int32 indptr/indices, float32 weights
    computed by the same expressions.
    """
    n = int(users.shape[0])
    if n >= np.iinfo(np.int32).max:
        return None  # scipy would pick int64 indices; leave that to the COO path
    m_low, m_high = int(movies.min()), int(movies.max())
    span = m_high - m_low + 1
    if span > max(_DENSE_SPAN_PER_ROW * n, _DENSE_SPAN_MIN):
        return None
    present = np.zeros(span, dtype=bool)
    starts = [np.zeros(1, dtype=np.int64)]
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        present[movies[start:stop] - m_low] = True
        # Row positions where a new user begins (the first row of the slice against the last
        # row of the previous one, so boundaries between slices are found too).
        lo = max(start - 1, 0)
        changes = np.flatnonzero(users[lo + 1 : stop] != users[lo : stop - 1]) + lo + 1
        starts.append(changes.astype(np.int64, copy=False))
    row_starts = np.concatenate(starts)
    user_ids = users[row_starts]
    indptr = np.empty(row_starts.shape[0] + 1, dtype=np.int32)
    indptr[:-1] = row_starts
    indptr[-1] = n
    position = (np.cumsum(present, dtype=np.int64) - 1).astype(np.int32)
    item_ids = (np.flatnonzero(present) + m_low).astype(np.int64, copy=False)
    indices = np.empty(n, dtype=np.int32)
    data = np.empty(n, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        indices[start:stop] = position[movies[start:stop] - m_low]
        data[start:stop] = _weigh(ratings[start:stop], spec)
    shape = (int(user_ids.shape[0]), int(item_ids.shape[0]))
    matrix = sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    return user_ids, item_ids, matrix


def _weigh(raw: FloatArray, spec: Weighting) -> FloatArray:
    # FittedWeighting.apply's expressions on float32 ratings, so the weights are bit-identical.
    if spec.kind == "binary":
        return np.ones(raw.shape[0], dtype=np.float32)
    if spec.kind == "confidence":
        return (1.0 + spec.alpha * raw).astype(np.float32)
    return raw


def _factorize(ids: IdArray) -> tuple[IdArray, IndexArray]:
    """Sorted distinct ids and each row's position among them: ``np.unique(return_inverse)``."""
    low, high = int(ids.min()), int(ids.max())
    span = high - low + 1
    if span > max(_DENSE_SPAN_PER_ROW * ids.shape[0], _DENSE_SPAN_MIN):
        vocabulary, inverse = np.unique(ids, return_inverse=True)
        return vocabulary, inverse.astype(np.intp, copy=False)
    # Database ids are dense serial keys: a presence table gives the same answer in
    # O(rows + span), where np.unique argsorts every row (9.6 of build_matrix's 19.6 s at 25M).
    offsets = ids - low
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    position = np.cumsum(present, dtype=np.intp) - 1
    vocabulary = (np.flatnonzero(present) + low).astype(np.int64, copy=False)
    return vocabulary, position[offsets]


def _validated_columns(
    interactions: Interactions,
) -> tuple[IdArray, IdArray, FloatArray]:
    users = np.asarray(interactions.user_ids, dtype=np.int64)
    movies = np.asarray(interactions.movie_ids, dtype=np.int64)
    ratings = np.asarray(interactions.ratings, dtype=np.float32)
    lengths = {
        "user_ids": users.shape,
        "movie_ids": movies.shape,
        "ratings": ratings.shape,
        "timestamps": np.shape(interactions.timestamps),
    }
    if len(set(lengths.values())) != 1 or users.ndim != 1:
        raise ValueError(f"interaction columns must be 1-D and equally long, got {lengths}")
    if users.shape[0] == 0:
        raise ValueError("no interactions: the ratings and events tables are empty")
    bad = np.flatnonzero(~np.isfinite(ratings))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{bad.size} non-finite rating(s), first at row {i} "
            f"(user {users[i]}, movie {movies[i]}): {ratings[i]}"
        )
    return users, movies, ratings


def _duplicate_error(users: IdArray, movies: IdArray) -> ValueError:
    order = np.lexsort((movies, users))
    u, m = users[order], movies[order]
    dup = np.flatnonzero((u[1:] == u[:-1]) & (m[1:] == m[:-1]))
    first = int(dup[0]) if dup.size else 0
    return ValueError(
        f"{dup.size} duplicate (user, movie) pair(s), e.g. user {u[first]} movie {m[first]}; "
        "each pair must be rated once"
    )
