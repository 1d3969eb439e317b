"""Item-to-item transitions: what users watched next after each movie, scored from recent items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.csr_state import csr_arrays, csr_from_state, dense_row, dense_scores
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import NotFittedError
from recsys.modeling.params import ModelParams, check_float, check_int
from recsys.modeling.sequences import Sequences, matrix_sequences
from recsys.modeling.state import StateArrays, require_arrays


@dataclass(frozen=True, kw_only=True)
class TransitionsParams(ModelParams):
    """Window and decay of the counted transitions; how many recent items propose, and how."""

    model_type: ClassVar[str] = "transitions"

    # j counts as following i when it is among the next ``window`` items of a user's history;
    # a pair ``gap`` items apart weighs ``decay ** (gap - 1)``.
    window: int = 5
    decay: float = 0.7
    # The user's latest ``last_items`` items propose, the k-th latest with weight recency ** k.
    # ML-100K leave-last-out (window 5, decay 0.7): NDCG@10 0.092 with recency 0.6, last 10;
    # 0.088 with recency 0.8 (the feasibility run in reports/ml-100k-two-stage).
    last_items: int = 10
    recency: float = 0.6
    # Row i is divided by (its total transition weight) ** normalize: 0 keeps raw counts (popular
    # items dominate), 1 gives P(next | i).
    normalize: float = 0.5

    def __post_init__(self) -> None:
        check_int("transitions", "window", self.window, low=1, high=1000)
        check_float("transitions", "decay", self.decay, low=0.0, high=1.0, low_open=True)
        check_int("transitions", "last_items", self.last_items, low=1, high=100_000)
        check_float("transitions", "recency", self.recency, low=0.0, high=1.0, low_open=True)
        check_float("transitions", "normalize", self.normalize, low=0.0, high=1.0)


class TransitionsRecommender(Recommender[TransitionsParams]):
    """T[i, j] = decayed count of j following i; scores = recency-weighted latest items @ T."""

    example_params: ClassVar[Mapping[str, Any]] = {
        "window": 3,
        "decay": 0.7,
        "last_items": 10,
        "recency": 0.6,
    }

    model_type: ClassVar[str] = "transitions"
    params_type: ClassVar[type[ModelParams]] = TransitionsParams
    needs_sequence: ClassVar[bool] = True

    def __init__(self, params: TransitionsParams | None = None) -> None:
        super().__init__(params)
        self._transitions: sp.csr_matrix | None = None
        self._latest = 0

    @property
    def transitions(self) -> sp.csr_matrix:
        """(items, items) float32 CSR of normalised transition weights."""
        if self._transitions is None:
            raise NotFittedError("transitions model is not fitted: call fit() or load()")
        return self._transitions

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None  # checked by fit
        sequences = matrix_sequences(matrix)
        self._transitions = transition_matrix(
            sequences,
            n_items=matrix.shape[1],
            window=self.params.window,
            decay=self.params.decay,
            normalize=self.params.normalize,
        )
        self._latest = int(sequences.times.max()) if sequences.times.shape[0] else 0

    def _default_time(self) -> int:
        return self._latest + 1

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # Without an order every history item proposes with full weight.
        binary = sp.csr_matrix(weighted, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        return dense_scores(binary @ self.transitions)

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        profile = sequences.recency_profile(
            self.n_items, last=self.params.last_items, decay=self.params.recency
        )
        return dense_scores(profile @ self.transitions)

    def anchor_window(self) -> tuple[int | None, float]:
        return self.params.last_items, self.params.recency

    def explaining_matrices(self) -> Sequence[sp.csr_matrix]:
        return (self.transitions,)

    def _similar(self, item_index: int) -> FloatArray:
        # "What is watched next after this movie".
        return dense_row(self.transitions, item_index)

    def _state_arrays(self) -> StateArrays:
        return {
            "transitions": csr_arrays(self.transitions),
            "timing": {"latest": np.asarray([self._latest], dtype=np.int64)},
        }

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        n = self.n_items
        self._transitions = csr_from_state(state, "transitions", shape=(n, n))
        self._latest = int(
            np.asarray(require_arrays(state, "timing", ("latest",))["latest"]).ravel()[0]
        )


def transition_matrix(
    sequences: Sequences, *, n_items: int, window: int, decay: float, normalize: float
) -> sp.csr_matrix:
    """Items x items float32 CSR: decayed counts of j following i within ``window`` items."""
    rows = sequences.rows()
    cols = sequences.cols
    sources: list[IndexArray] = []
    targets: list[IndexArray] = []
    weights: list[FloatArray] = []
    for gap in range(1, min(window, max(cols.shape[0] - 1, 0)) + 1):
        same_user = rows[gap:] == rows[:-gap]
        sources.append(cols[:-gap][same_user])
        targets.append(cols[gap:][same_user])
        weights.append(np.full(int(same_user.sum()), decay ** (gap - 1), dtype=np.float32))
    if not sources:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    counts = sp.csr_matrix(
        (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    counts.sum_duplicates()
    counts.setdiag(0.0)  # a movie rated twice does not follow itself
    counts.eliminate_zeros()
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    scale = np.power(totals + 1.0, -normalize).astype(np.float32)
    out = sp.csr_matrix(sp.diags(scale) @ counts, dtype=np.float32)
    out.sort_indices()
    return out
