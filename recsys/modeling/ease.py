"""EASE^R (Steck 2019): a closed-form, dense item-item linear autoencoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.dataset import FloatArray, IndexArray, InteractionMatrix
from recsys.modeling.errors import ModelStateError, NotFittedError
from recsys.modeling.params import ModelParams, check_float, check_int
from recsys.modeling.search import LogUniform, SearchSpace
from recsys.modeling.state import StateArrays, require_arrays
from recsys.modeling.weighting import WeightingKind


@dataclass(frozen=True, kw_only=True)
class EASEParams(ModelParams):
    """The L2 penalty, and the catalogue size above which fitting is refused."""

    model_type: ClassVar[str] = "ease"

    # lambda in Steck's paper. Tuned by `recsys tune` on ML-100K leave-last-out
    # (reports/tuning/README.md): validation NDCG@10 0.0794 vs 0.0769 for the previous 250;
    # anything from ~100 to 500 is within noise.
    l2: float = 153.0
    # The weights are a dense items x items matrix: 20k items is 1.6 GB of float32 to serve
    # and ~7.5 GB to fit.
    max_items: int = 20_000
    # 0: every item. N > 0: fit on the N most-rated items only (the rest are never scored),
    # so that the dense weights stay N x N on any catalogue (two_stage's choice above a size).
    top_items: int = 0

    def __post_init__(self) -> None:
        check_float("ease", "l2", self.l2, low=0.0, low_open=True)
        check_int("ease", "max_items", self.max_items, low=1, high=100_000)
        check_int("ease", "top_items", self.top_items, low=0, high=100_000)

    def fitted_items(self, n_items: int) -> int:
        """How many items the dense weights cover on a catalogue of ``n_items``."""
        return min(n_items, self.top_items) if self.top_items else n_items

    def check_size(self, n_items: int) -> None:
        """``ValueError`` (one line, before any work) when the weights would be too big."""
        fitted = self.fitted_items(n_items)
        if fitted > self.max_items:
            raise ValueError(
                f"ease: {fitted:,} items exceed ease.max_items = {self.max_items:,}; "
                f"its dense item-item weights would take {_memory(fitted, 4)} (float32) and "
                f"fitting ~{_memory(fitted, 20)} (two float64 copies and the result). "
                "Raise max_items if the machine has the memory, set ease.top_items to fit on "
                "the most-rated items only, or use item_knn / cooccurrence"
            )


class EASERecommender(Recommender[EASEParams]):
    """B = argmin ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0; scores = history @ B."""

    # EASE is defined on 0/1 data.
    default_weighting: ClassVar[WeightingKind] = "binary"
    search_space: ClassVar[SearchSpace | None] = {"l2": LogUniform(10.0, 5000.0)}
    example_params: ClassVar[Mapping[str, Any]] = {"l2": 10.0}

    model_type: ClassVar[str] = "ease"
    params_type: ClassVar[type[ModelParams]] = EASEParams
    size_limited: ClassVar[bool] = True

    def __init__(self, params: EASEParams | None = None) -> None:
        super().__init__(params)
        self._weights: FloatArray | None = None
        # Sorted item indices the weights cover (``top_items``); None: every item.
        self._subset: IndexArray | None = None

    @property
    def subset(self) -> IndexArray | None:
        """Sorted item indices the weights' rows and columns stand for; None: all items."""
        return self._subset

    @property
    def weights(self) -> FloatArray:
        """(items, items) float32 B; row i is what having item i adds to every item's score."""
        if self._weights is None:
            raise NotFittedError("ease model is not fitted: call fit() or load()")
        return self._weights

    def check_catalogue(self, n_items: int) -> None:
        self.params.check_size(n_items)

    def _fit(self, matrix: InteractionMatrix) -> None:
        n_items = matrix.shape[1]
        self.check_catalogue(n_items)
        x = matrix.user_items
        subset = None
        if self.params.fitted_items(n_items) < n_items:
            counts = np.diff(sp.csc_matrix(x).indptr)
            subset = np.sort(np.argsort(-counts, kind="stable")[: self.params.top_items])
            x = sp.csr_matrix(x[:, subset])
        self._subset = None if subset is None else subset.astype(np.intp)
        self._weights = ease_weights(x, l2=self.params.l2)

    def _score(self, user_index: IndexArray, weighted: sp.csr_matrix) -> FloatArray:
        if self._subset is None:
            scores: FloatArray = np.asarray(weighted @ self.weights, dtype=np.float32)
            return scores
        part = np.asarray(sp.csr_matrix(weighted[:, self._subset]) @ self.weights, np.float32)
        out = np.full((weighted.shape[0], self.n_items), -np.inf, dtype=np.float32)
        out[:, self._subset] = part
        return out

    def _similar(self, item_index: int) -> FloatArray:
        if self._subset is None:
            row: FloatArray = self.weights[item_index].copy()
            return row
        out = np.full(self.n_items, -np.inf, dtype=np.float32)
        at = int(np.searchsorted(self._subset, item_index))
        if at < self._subset.shape[0] and self._subset[at] == item_index:
            out[self._subset] = self.weights[at]
        return out

    def _state_arrays(self) -> StateArrays:
        arrays = {"weights": self.weights}
        if self._subset is not None:
            arrays["items"] = self._subset.astype(np.int64)
        return {"ease": arrays}

    def _restore(self, state: Mapping[str, Mapping[str, npt.NDArray[Any]]]) -> None:
        arrays = require_arrays(state, "ease", ("weights",))
        weights = np.ascontiguousarray(arrays["weights"], dtype=np.float32)
        subset = None
        expected = self.n_items
        if "items" in arrays:
            subset = np.asarray(arrays["items"], dtype=np.intp)
            expected = int(subset.shape[0])
            if subset.ndim != 1 or (
                expected
                and (np.any(np.diff(subset) <= 0) or subset[0] < 0 or subset[-1] >= self.n_items)
            ):
                raise ModelStateError("ease.npz: items is not a sorted set of item indices")
        if weights.shape != (expected, expected):
            raise ModelStateError(
                f"ease.npz: weights has shape {weights.shape}, expected ({expected}, {expected})"
            )
        self._weights = weights
        self._subset = subset


def ease_weights(user_items: sp.csr_matrix, *, l2: float) -> FloatArray:
    """Steck's closed form: P = (X^T X + l2 I)^-1, B = -P / diag(P), diag(B) = 0."""
    x = sp.csr_matrix(user_items, dtype=np.float64)
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    precision = _spd_inverse(gram)
    del gram  # now holds the Cholesky factor: free it before the float32 copy
    # Column j divided by -P_jj, in place: at 20k items every extra float64 copy is 3.2 GB.
    precision /= -np.diag(precision).copy()
    np.fill_diagonal(precision, 0.0)
    # C order: cho_solve answers in Fortran order, and a scipy sparse @ dense product copies a
    # non-C-contiguous right-hand side (11 MB per ML-100K request, ~2x its scoring time).
    return precision.astype(np.float32, order="C")


def _spd_inverse(gram: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # X^T X + l2 I is symmetric positive definite: Cholesky, then solve against I.
    factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
    identity = np.eye(gram.shape[0])
    inverse: npt.NDArray[np.float64] = scipy.linalg.cho_solve(
        factor, identity, overwrite_b=True, check_finite=False
    )
    return inverse


def _memory(n_items: int, bytes_per_cell: int) -> str:
    size = n_items * n_items * bytes_per_cell
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"
