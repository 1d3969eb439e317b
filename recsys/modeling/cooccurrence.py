"""Item-to-item co-occurrence counts: "users who watched this also watched"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import HistoryRow, Recommender
from recsys.modeling.csr_state import csr_arrays, csr_from_state, dense_row, dense_scores
from recsys.modeling.dataset import BoolArray, FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import NotFittedError
from recsys.modeling.neighbourhood import CSRRows, SparseAccumulator, neighbourhood_top_k
from recsys.modeling.params import ModelParams, check_choice, check_int
from recsys.modeling.search import MIN_NEIGHBOURS, Choice, LogUniform, SearchSpace
from recsys.modeling.state import StateArrays
from recsys.modeling.weighting import WeightingKind

Normalization = Literal["none", "jaccard"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)

# Dense count blocks are at most this many cells (32 MiB of float64) while fitting.
_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True, kw_only=True)
class CooccurrenceParams(ModelParams):
    """How counts are normalised and how many neighbours each item keeps."""

    model_type: ClassVar[str] = "cooccurrence"

    # none: raw counts |U_i & U_j| (popular items dominate); jaccard: |U_i & U_j| / |U_i | U_j|.
    # On ML-100K leave-last-out, HR@10 was 0.060 with jaccard against 0.051 for raw counts.
    # (Lift, P(i, j) / (P(i) P(j)), was left out: without a minimum support it ranks items
    # seen by one or two users first, HR@10 0.001.)
    normalize: Normalization = "jaccard"
    # Neighbours kept per item (the largest normalised counts; ties go to the lower movie id).
    # Tuned by `recsys tune` on ML-100K leave-last-out, searched from 20 up so lists are not
    # cut short (reports/tuning/README.md): validation NDCG@10 0.0638 vs 0.0614 for 100.
    k: int = 420

    def __post_init__(self) -> None:
        check_choice("cooccurrence", "normalize", self.normalize, NORMALIZATIONS)
        check_int("cooccurrence", "k", self.k, low=1, high=100_000)


class CooccurrenceRecommender(Recommender[CooccurrenceParams]):
    """C = X^T X over 0/1 interactions, diagonal zeroed, top-k per row; scores = history @ C."""

    # Co-occurrence is defined on 0/1 data.
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {
        "normalize": Choice(("none", "jaccard")),
        "k": LogUniform(MIN_NEIGHBOURS, 1000, integer=True),
    }
    example_params: ClassVar[Mapping[str, Any]] = {"normalize": "jaccard", "k": 20}

    model_type: ClassVar[str] = "cooccurrence"
    params_type: ClassVar[type[ModelParams]] = CooccurrenceParams

    def __init__(self, params: CooccurrenceParams | None = None) -> None:
        super().__init__(params)
        self._neighbours: sp.csr_matrix | None = None
        # The same matrix as numpy arrays, for the per-request path (set with it).
        self._rows: CSRRows | None = None
        self._scratch = SparseAccumulator(0)

    @property
    def neighbours(self) -> sp.csr_matrix:
        """(items, items) float32 CSR; row i holds item i's k strongest co-occurrences."""
        if self._neighbours is None:
            raise NotFittedError("cooccurrence model is not fitted: call fit() or load()")
        return self._neighbours

    def _fit(self, matrix: InteractionMatrix) -> None:
        self._set_neighbours(
            cooccurrence_neighbours(
                matrix.user_items, normalize=self.params.normalize, k=self.params.k
            )
        )

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # Items no history item co-occurs with stay -inf, as item_knn (nothing links to them).
        return dense_scores(weighted @ self.neighbours)

    def _recommend_row(
        self,
        user_id: int,
        user_index: int,
        row: HistoryRow,
        k: int,
        *,
        allowed: BoolArray | None = None,
    ) -> tuple[IndexArray, FloatArray] | None:
        # Only the neighbours of the history's items can score: rank just those.
        if self._rows is None:
            raise NotFittedError("cooccurrence model is not fitted: call fit() or load()")
        return neighbourhood_top_k(
            self._rows, self._scratch, row.cols, row.weights, row.seen, k, allowed=allowed
        )

    def _similar(self, item_index: int) -> FloatArray:
        return dense_row(self.neighbours, item_index)

    def _set_neighbours(self, neighbours: sp.csr_matrix) -> None:
        self._neighbours = neighbours
        self._scratch = SparseAccumulator(int(neighbours.shape[1]))
        self._rows = CSRRows.of(neighbours)

    def _state_arrays(self) -> StateArrays:
        return {"neighbours": csr_arrays(self.neighbours)}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        n = self.n_items
        self._set_neighbours(csr_from_state(state, "neighbours", shape=(n, n)))


def cooccurrence_neighbours(
    user_items: sp.csr_matrix, *, normalize: Normalization = "jaccard", k: int = 100
) -> sp.csr_matrix:
    """Items x items float32 CSR of each item's top-k normalised co-occurrence counts."""
    check_choice("cooccurrence", "normalize", normalize, NORMALIZATIONS)
    check_int("cooccurrence", "k", k, low=1, high=100_000)
    n_items = user_items.shape[1]
    x = sp.csr_matrix(user_items, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    x.data[:] = 1.0
    item_users = sp.csr_matrix(x.T)
    counts = np.diff(sp.csc_matrix(x).indptr).astype(np.float64)  # users per item
    data: list[npt.NDArray[np.float32]] = []
    indices: list[npt.NDArray[np.int32]] = []
    lengths: list[npt.NDArray[np.int64]] = []
    block = max(1, _BLOCK_CELLS // max(n_items, 1))
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        values = np.asarray((item_users[start:stop] @ x).toarray(), dtype=np.float64)
        rows = np.arange(stop - start)
        if normalize == "jaccard":
            union = counts[start:stop, None] + counts[None, :] - values
            values = np.divide(values, union, out=np.zeros_like(values), where=union > 0)
        values[rows, rows + start] = 0.0  # an item is not its own neighbour
        keep = _top_k_mask(values, k)
        row, col = np.nonzero(keep)  # row-major: columns come out sorted within each row
        data.append(values[row, col].astype(np.float32))
        indices.append(col.astype(np.int32))
        lengths.append(np.bincount(row, minlength=stop - start).astype(np.int64))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths))])
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=(n_items, n_items)
    )


def _top_k_mask(values: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.bool_]:
    # Per row, the k largest positive values; among values tied at the cut-off the lower
    # column index wins, so the kept set never depends on the sort algorithm.
    positive = values > 0
    if k >= values.shape[1]:
        return positive
    kth = -np.partition(-values, k - 1, axis=1)[:, k - 1 : k]
    above = values > kth
    tied = values == kth
    room = k - above.sum(axis=1, keepdims=True)
    keep: npt.NDArray[np.bool_] = positive & (above | (tied & (np.cumsum(tied, axis=1) <= room)))
    return keep
