"""The union of every source's top-N for a batch of histories, with per-source scores and ranks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.modeling.base import Recommender
from recsys.modeling.dataset import FloatArray, IndexArray
from recsys.modeling.sequences import Sequences
from recsys.modeling.topk import top_k


@dataclass(frozen=True)
class CandidateSet:
    """Distinct (row, item) pairs, sorted by row then item, with what each source said."""

    rows: IndexArray
    cols: IndexArray
    # (pairs, sources): a source's score and 1-based rank of the item; NaN where it did not
    # propose the item.
    scores: npt.NDArray[np.float32]
    ranks: npt.NDArray[np.float32]
    source_names: tuple[str, ...]

    @property
    def n_pairs(self) -> int:
        """Number of (row, item) candidates."""
        return int(self.rows.shape[0])


def concat_candidates(parts: Sequence[CandidateSet]) -> CandidateSet:
    """Candidate sets of consecutive row chunks (rows already offset) as one."""
    return CandidateSet(
        rows=np.concatenate([p.rows for p in parts]),
        cols=np.concatenate([p.cols for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        ranks=np.concatenate([p.ranks for p in parts]),
        source_names=parts[0].source_names,
    )


# A source's dense (rows, items) scores of a batch of histories, instead of its own method.
RowScorer = Callable[[Sequences], FloatArray]


def gather_candidates(
    sources: Mapping[str, Recommender[Any]],
    *,
    user_index: IndexArray,
    raw: sp.csr_matrix,
    sequences: Sequences,
    per_source: Mapping[str, int],
    scorers: Mapping[str, RowScorer] | None = None,
) -> CandidateSet:
    """Each source's ``per_source[name]`` best unseen items for every row, merged.

    ``raw`` holds each row's raw ratings in the shared item space (the seen items); every
    source was fit on that same vocabulary, so columns mean the same thing to all of them.
    ``scorers``: sources scored by another function giving the same scores faster.
    """
    n_rows, n_items = raw.shape
    seen = raw.tocoo()
    keys: list[npt.NDArray[np.int64]] = []
    parts: list[tuple[int, FloatArray, FloatArray]] = []
    for index, (name, model) in enumerate(sources.items()):
        weighted = model._weighting.apply(raw)
        if scorers is not None and name in scorers:
            scores = scorers[name](sequences)
        elif model.needs_sequence:
            scores = model._score_sequences(user_index, weighted, sequences)
        else:
            scores = model._score(user_index, weighted)
        scores[seen.row, seen.col] = -np.inf
        top, top_scores = top_k(scores, per_source[name])
        valid = np.isfinite(top_scores)
        rows = np.broadcast_to(np.arange(n_rows)[:, None], top.shape)[valid]
        ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1)[None, :], top.shape)[valid]
        keys.append(rows.astype(np.int64) * n_items + top[valid])
        parts.append((index, top_scores[valid], ranks.astype(np.float32)))
    all_keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    pairs, inverse = np.unique(all_keys, return_inverse=True)
    n_sources = len(sources)
    score_table = np.full((pairs.shape[0], n_sources), np.nan, dtype=np.float32)
    rank_table = np.full((pairs.shape[0], n_sources), np.nan, dtype=np.float32)
    offset = 0
    for index, values, ranks in parts:
        where = inverse[offset : offset + values.shape[0]]
        score_table[where, index] = values
        rank_table[where, index] = ranks
        offset += values.shape[0]
    return CandidateSet(
        rows=(pairs // n_items).astype(np.intp),
        cols=(pairs % n_items).astype(np.intp),
        scores=score_table,
        ranks=rank_table,
        source_names=tuple(sources),
    )
