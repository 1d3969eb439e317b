"""New movies (no interactions yet) in the answers: the explore slots and content neighbours.

A movie the serving model never saw cannot be scored by it. ``explore_share`` of the k slots
(RECSYS_EXPLORE_SHARE, default 0.1: one slot of ten; 0 turns it off) go to such new movies
instead, the ones closest in content to the user's history (recsys.modeling.content; a disliked
movie counts against the movies like it), after the model's own picks and marked
``NEW_REASON``. When no new movie is eligible the model fills every slot. For similar movies,
a query movie the model knows gets the model's neighbours plus the explore slots from the new
movies closest in content; a movie the model never saw gets its content neighbours among every
live movie: collaborative where the data exists, content where it does not.
"""

from __future__ import annotations

import numpy as np

from recsys.modeling.base import History
from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, lookup
from recsys.service.catalog_state import CatalogSnapshot

NEW_REASON = "new in the catalogue"
DEFAULT_EXPLORE_SHARE = 0.1
_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def explore_slots(k: int, share: float) -> int:
    """Slots of k for new movies: ``k * share`` rounded half up (0.1 of 10 is 1, of 4 none)."""
    return max(0, min(k, int(k * share + 0.5)))


def new_for_user(
    snapshot: CatalogSnapshot, new_rows: IndexArray, history: History, n: int
) -> tuple[IdArray, FloatArray]:
    """Up to ``n`` new movies (content rows ``new_rows``) the history does not hold, closest
    in content to it (newest ids first when it says nothing)."""
    if n == 0 or new_rows.shape[0] == 0:
        return _EMPTY
    content = snapshot.content
    in_history = lookup(content.movie_ids, history.movie_ids)
    candidates = new_rows[~np.isin(new_rows, in_history[in_history >= 0])]
    if candidates.shape[0] == 0:
        return _EMPTY
    signs = np.sign(history.ratings).astype(np.float32)
    scores = content.scores_for(history.movie_ids, signs)
    if not np.any(scores[candidates]):
        # Nothing in common with the history: the newest (highest ids) get the chance.
        return content.movie_ids[candidates[::-1][:n]], np.zeros(
            min(n, candidates.shape[0]), dtype=np.float32
        )
    return content.top(scores, candidates, n)


def content_neighbours(
    snapshot: CatalogSnapshot, movie_id: int, candidates: IndexArray | None, n: int
) -> tuple[IdArray, FloatArray]:
    """Up to ``n`` of ``candidates`` (content rows; None: every live movie) closest in content
    to ``movie_id``, itself left out; empty when the movie is not live or n is 0."""
    content = snapshot.content
    row = int(lookup(content.movie_ids, [movie_id])[0])
    if n == 0 or row < 0:
        return _EMPTY
    pool = (
        np.arange(content.movie_ids.shape[0], dtype=np.intp) if candidates is None else candidates
    )
    pool = pool[pool != row]
    if pool.shape[0] == 0:
        return _EMPTY
    scores = content.scores_for(np.array([movie_id], dtype=np.int64), np.ones(1, np.float32))
    return content.top(scores, pool, n)
