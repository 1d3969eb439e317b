"""The one fallback rule: which users a model can score, and who answers for the others.

A personalised model can score a user it trained on, or one whose history has movies it knows
(fold-in / item neighbourhoods); anyone else gets the popularity model's answer. The API's
``RecommenderService.recommend`` and ``recsys predict --all`` (``batch.iter_top_k``) both ask
this module, so a user gets the fallback in the CSV exactly when the API would give it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.data.frames import Interactions
from recsys.modeling.base import History, Recommender
from recsys.modeling.dataset import lookup

FALLBACK_MODEL = "popularity"


# Why the fallback answered (the `reason` label of recsys_fallback_answers_total).
NO_HISTORY = "no_history"  # the model never saw the user, who has rated or done nothing yet
UNKNOWN_MOVIES = "unknown_movies"  # ... and none of the user's movies is one the model knows


def can_score(model: Recommender[Any], user_id: int, history: History) -> bool:
    """True when ``model`` can rank for this user; False means: answer from the fallback."""
    return fallback_reason(model, user_id, history) is None


def fallback_reason(model: Recommender[Any], user_id: int, history: History) -> str | None:
    """None when ``model`` can rank for this user, else why the fallback must answer."""
    if not model.personalised or model.knows_user(user_id):
        return None
    if len(history) == 0:
        return NO_HISTORY
    return None if (lookup(model.item_ids, history.movie_ids) >= 0).any() else UNKNOWN_MOVIES


def can_score_batch(
    model: Recommender[Any], user_ids: npt.NDArray[np.int64], histories: Interactions
) -> npt.NDArray[np.bool_]:
    """``can_score`` of every user in ``user_ids`` at once (``histories``: their rows)."""
    if not model.personalised:
        return np.ones(user_ids.shape[0], dtype=np.bool_)
    known = lookup(model.user_ids, user_ids) >= 0
    rows_known = lookup(model.item_ids, histories.movie_ids) >= 0
    with_known_movie = np.unique(histories.user_ids[rows_known])
    return known | np.isin(user_ids, with_known_movie)
