"""``two_stage``'s candidate sources, and the training rows they are fit on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling.als import ALSRecommender
from recsys.modeling.base import Recommender
from recsys.modeling.candidates.recent_knn import RecentKNNRecommender
from recsys.modeling.candidates.recent_popularity import RecentPopularityRecommender
from recsys.modeling.candidates.transitions import TransitionsRecommender
from recsys.modeling.dataset import FittedWeighting, InteractionMatrix, Weighting, lookup
from recsys.modeling.ease import EASEParams, EASERecommender
from recsys.modeling.params import ModelParams
from recsys.modeling.sasrec.model import SASRecRecommender
from recsys.modeling.sequences import Sequences, matrix_sequences
from recsys.modeling.weighting import WeightingKind

BoolArray = npt.NDArray[np.bool_]

# name -> (model class, the weighting of raw ratings it is fit on). Default parameters each.
SOURCES: dict[str, tuple[type[Recommender[Any]], WeightingKind]] = {
    "transitions": (TransitionsRecommender, "binary"),
    "recent_knn": (RecentKNNRecommender, "binary"),
    "recent_popularity": (RecentPopularityRecommender, "binary"),
    "ease": (EASERecommender, "binary"),
    "als": (ALSRecommender, "confidence"),
}
# The optional sixth source (two_stage's ``sasrec_source``): it needs torch to fit.
SEQUENCE_SOURCE = "sasrec"


def source_table(*, sasrec: bool) -> dict[str, tuple[type[Recommender[Any]], WeightingKind]]:
    """``SOURCES``, plus the sasrec encoder when asked for (its score and rank as features)."""
    if not sasrec:
        return dict(SOURCES)
    return {**SOURCES, SEQUENCE_SOURCE: (SASRecRecommender, "binary")}


def sequence_neighbours(sources: Mapping[str, Recommender[Any]]) -> sp.csr_matrix:
    """The transitions source's matrix plus its transpose (j after i, or i after j)."""
    model = sources["transitions"]
    assert isinstance(model, TransitionsRecommender)
    transitions = model.transitions
    return sp.csr_matrix(transitions + transitions.T, dtype=np.float32)


def source_params(n_items: int, *, ease_items: int, sasrec: bool = False) -> dict[str, ModelParams]:
    """Each source's parameters on a catalogue of ``n_items``: the defaults, except that EASE
    is fit on the ``ease_items`` most-rated items only when the catalogue is bigger (its
    weights are dense: 62k items would be 15 GiB to serve and ~75 GiB to fit)."""
    table = source_table(sasrec=sasrec)
    params: dict[str, ModelParams] = {name: cls.params_type() for name, (cls, _) in table.items()}
    if n_items > ease_items:
        params["ease"] = EASEParams(top_items=ease_items)
    return params


def check_sources(n_items: int, *, ease_items: int) -> None:
    """Every source's size check, before any work (one-line ``ValueError``)."""
    ease = source_params(n_items, ease_items=ease_items)["ease"]
    assert isinstance(ease, EASEParams)
    ease.check_size(n_items)


def fit_sources(
    rows: Interactions,
    like: InteractionMatrix,
    *,
    ease_items: int = 4_000,
    sequences: Sequences | None = None,
    sasrec: bool = False,
) -> dict[str, Recommender[Any]]:
    """Every candidate source fit on ``rows``, on ``like``'s vocabulary so columns line up.

    ``sequences``: ``training_sequences`` of ``rows`` on that vocabulary, when the caller has
    them (the sequence sources then skip their sort of every row).
    """
    params = source_params(like.shape[1], ease_items=ease_items, sasrec=sasrec)
    return {
        name: cls(params[name]).fit(matrix_on(rows, like, weighting, sequences=sequences))
        for name, (cls, weighting) in source_table(sasrec=sasrec).items()
    }


def matrix_on(
    rows: Interactions,
    like: InteractionMatrix,
    kind: WeightingKind,
    *,
    sequences: Sequences | None = None,
) -> InteractionMatrix:
    users = lookup(like.user_ids, rows.user_ids)
    items = lookup(like.item_ids, rows.movie_ids)
    raw = sp.csr_matrix(
        (np.asarray(rows.ratings, dtype=np.float32), (users, items)), shape=like.shape
    )
    weighting = FittedWeighting(Weighting(kind=kind))
    return InteractionMatrix(
        user_items=weighting.apply(raw),
        user_ids=like.user_ids,
        item_ids=like.item_ids,
        weighting=weighting,
        fingerprint=like.fingerprint,
        n_interactions=len(rows),
        source=rows,
        items=like.items,
        sequences=sequences,
    )


def base_interactions(
    matrix: InteractionMatrix, periods: int, *, withheld: BoolArray | None = None
) -> Interactions:
    """``matrix.source`` minus every user's latest ``periods`` rows (time, movie id order) and
    minus the ``withheld`` entries (of ``training_sequences``' order)."""
    return base_rows(matrix, matrix_sequences(matrix), periods, withheld=withheld)[0]


def base_rows(
    matrix: InteractionMatrix,
    sequences: Sequences,
    periods: int,
    *,
    withheld: BoolArray | None = None,
) -> tuple[Interactions, Sequences]:
    """``base_interactions`` from ``matrix``'s ``sequences``, with the base rows' own sequences
    (``Sequences.subset``: what ``training_sequences`` of those rows gives, without its sort)."""
    keep = sequences.from_end() >= periods
    if withheld is not None:
        keep &= ~withheld
    rows = Interactions(
        user_ids=matrix.user_ids[sequences.rows()[keep]],
        movie_ids=matrix.item_ids[sequences.cols[keep]],
        ratings=sequences.ratings[keep],
        timestamps=sequences.times[keep],
    )
    return rows, sequences.subset(keep)
