"""``sasrec`` as a recommender: torch to fit, numpy (network.py) to score each request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, InteractionMatrix, lookup
from recsys.modeling.errors import MissingDependencyError, ModelStateError, NotFittedError
from recsys.modeling.params import ModelParams
from recsys.modeling.registry import missing_package
from recsys.modeling.sasrec.network import Weights, encode, item_scores
from recsys.modeling.sasrec.params import SASRecParams
from recsys.modeling.search import Choice, LogUniform, SearchSpace, Uniform
from recsys.modeling.sequences import Sequences, training_sequences
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.topk import check_allowed, check_k, top_k_row

# Histories scored per numpy block in batch scoring: (rows, max_len, hidden) float32 temporaries.
_ROWS_PER_BLOCK = 256


class SASRecRecommender(Recommender[SASRecParams]):
    """Self-attention over the latest ``max_len`` items; score = last vector . item vectors."""

    model_type: ClassVar[str] = "sasrec"
    params_type: ClassVar[type[ModelParams]] = SASRecParams
    needs_sequence: ClassVar[bool] = True
    example_params: ClassVar[Mapping[str, Any]] = {
        "max_len": 8,
        "hidden": 16,
        "blocks": 1,
        "dropout": 0.0,
        "learning_rate": 0.01,
        "max_epochs": 40,
        "validation_share": 0.0,
        "num_threads": 1,
    }
    search_space: ClassVar[SearchSpace | None] = {
        "max_len": Choice((25, 50, 100)),
        "hidden": Choice((32, 64, 128)),
        "blocks": Choice((1, 2, 3)),
        "dropout": Uniform(0.0, 0.5),
        "learning_rate": LogUniform(3e-4, 3e-3),
    }

    def __init__(self, params: SASRecParams | None = None) -> None:
        super().__init__(params)
        self._weights: Weights | None = None
        # log(1 + training count) per item: the ranking of a history with no known item.
        self._popularity: FloatArray | None = None
        self._latest = 0
        self.diagnostics: dict[str, Any] = {}

    @property
    def weights(self) -> Weights:
        """The fitted encoder's arrays."""
        if self._weights is None:
            raise NotFittedError("sasrec model is not fitted: call fit() or load()")
        return self._weights

    def _fit(self, matrix: InteractionMatrix) -> None:
        assert matrix.source is not None  # checked by fit
        try:
            from recsys.modeling.sasrec.training import fit_network
        except ModuleNotFoundError as exc:
            if exc.name != "torch":
                raise
            raise MissingDependencyError(missing_package("sasrec") or str(exc)) from exc
        sequences = training_sequences(
            matrix.source, user_ids=matrix.user_ids, item_ids=matrix.item_ids
        )
        fitted = fit_network(sequences, n_items=matrix.shape[1], params=self.params)
        self._weights = fitted.weights
        self.diagnostics = fitted.diagnostics
        counts = np.bincount(sequences.cols, minlength=matrix.shape[1])
        self._popularity = np.log1p(counts).astype(np.float32)
        self._latest = int(sequences.times.max()) if sequences.times.shape[0] else 0

    def _default_time(self) -> int:
        return self._latest + 1

    # -- scoring ------------------------------------------------------------------------------

    def recommend(
        self,
        user_id: int,
        *,
        history: History | None = None,
        k: int = 10,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[IdArray, FloatArray]:
        """Top-k for one request: the history in (time, movie id) order, encoded in numpy;
        ``allowed`` (a bool per item) restricts the ranking before the cut."""
        check_k(k)
        check_allowed(allowed, self.n_items)
        history = history if history is not None else History.empty()
        cols = lookup(self.item_ids, history.movie_ids)
        known = cols >= 0
        cols = cols[known]
        if history.timestamps is not None and cols.shape[0] > 1:
            order = np.lexsort((history.movie_ids[known], history.timestamps[known]))
            cols = cols[order]
        scores = self.sequence_scores(cols)
        scores[cols] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        top, top_scores = top_k_row(scores, k)
        return self.item_ids[top], top_scores

    def sequence_scores(self, cols: IndexArray) -> FloatArray:
        """Scores of every item after the history ``cols`` (item indices, time order); a new
        array (popularity when empty)."""
        if cols.shape[0] == 0:
            return self._require_popularity().copy()
        latest = (cols[-self.weights.max_len :] + 1)[None, :]
        scores: FloatArray = item_scores(self.weights, encode(self.weights, latest))[0]
        return scores

    def _score_sequences(
        self, user_index: IndexArray, weighted: sp.csr_matrix, sequences: Sequences
    ) -> FloatArray:
        out = np.empty((sequences.n_rows, self.n_items), dtype=np.float32)
        for start in range(0, sequences.n_rows, _ROWS_PER_BLOCK):
            stop = min(start + _ROWS_PER_BLOCK, sequences.n_rows)
            out[start:stop] = self._block_scores(sequences.slice(start, stop))
        return out

    def _block_scores(self, sequences: Sequences) -> FloatArray:
        # Right-aligned latest items, padded to the block's longest (capped at max_len).
        max_len = self.weights.max_len
        lengths = np.minimum(sequences.lengths, max_len)
        out = np.broadcast_to(self._require_popularity(), (sequences.n_rows, self.n_items)).copy()
        filled = np.flatnonzero(lengths > 0)
        if filled.shape[0] == 0:
            return out
        width = int(lengths.max())
        back = sequences.from_end()
        keep = back < width
        rows = sequences.rows()[keep]
        grid = np.zeros((sequences.n_rows, width), dtype=np.intp)
        grid[rows, width - 1 - back[keep]] = sequences.cols[keep] + 1
        out[filled] = item_scores(self.weights, encode(self.weights, grid[filled]))
        return out

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        # No order known: the history in column order (the sequence paths are the real ones).
        out = np.empty((weighted.shape[0], self.n_items), dtype=np.float32)
        for row in range(weighted.shape[0]):
            out[row] = self.sequence_scores(
                weighted.indices[weighted.indptr[row] : weighted.indptr[row + 1]]
            )
        return out

    def _similar(self, item_index: int) -> FloatArray:
        # "What is watched next after this movie": the encoder's answer to a one-item history.
        return self.sequence_scores(np.array([item_index], dtype=np.intp))

    def _require_popularity(self) -> FloatArray:
        if self._popularity is None:
            raise NotFittedError("sasrec model is not fitted: call fit() or load()")
        return self._popularity

    # -- persistence --------------------------------------------------------------------------

    def _state_arrays(self) -> StateArrays:
        return {
            "sasrec": self.weights.to_arrays(),
            "popularity": {"log_counts": self._require_popularity()},
            "timing": {"latest": np.asarray([self._latest], dtype=np.int64)},
        }

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        arrays = state.get("sasrec")
        if arrays is None:
            raise ModelStateError("sasrec.npz is missing")
        weights = Weights.from_arrays(arrays, n_items=self.n_items, blocks=self.params.blocks)
        if weights.max_len != self.params.max_len or weights.hidden != self.params.hidden:
            raise ModelStateError(
                f"sasrec.npz: positions {weights.positions.shape} do not match max_len "
                f"{self.params.max_len} and hidden {self.params.hidden}"
            )
        self._weights = weights
        popularity = require_arrays(state, "popularity", ("log_counts",))["log_counts"]
        self._popularity = np.asarray(popularity, dtype=np.float32)
        if self._popularity.shape != (self.n_items,):
            raise ModelStateError(
                f"popularity.npz: log_counts has shape {self._popularity.shape}, "
                f"expected ({self.n_items},)"
            )
        timing = require_arrays(state, "timing", ("latest",))
        self._latest = int(np.asarray(timing["latest"]).ravel()[0])
