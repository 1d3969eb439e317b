"""Content similarity and the explore slots: new movies by genres, decade and title words."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.db.repositories import CatalogRow
from recsys.modeling.base import History
from recsys.modeling.content import ContentIndex, title_words
from recsys.service.catalog_state import CatalogSnapshot
from recsys.service.explore import content_neighbours, explore_slots, new_for_user

ROWS = [
    CatalogRow(1, "Star Journey", 1977, ("Adventure", "Sci-Fi"), False),
    CatalogRow(2, "Star Journey II", 1980, ("Adventure", "Sci-Fi"), False),
    CatalogRow(3, "Paris Hearts", 1995, ("Romance",), False),
    CatalogRow(4, "Gone", 1995, ("Romance",), True),  # soft-deleted
    CatalogRow(5, "Star Journey Returns", 1984, ("Adventure", "Sci-Fi"), False),  # new
    CatalogRow(6, "Paris Nights", 1996, ("Romance", "Drama"), False),  # new
]


def test_title_words_drop_stop_words_and_repeats() -> None:
    assert title_words("The Return of the Star, Star Wars") == ["return", "star", "wars"]


def test_content_cosine_prefers_shared_genres_decade_and_words() -> None:
    index = ContentIndex.build(
        [r.id for r in ROWS],
        [r.title for r in ROWS],
        [r.year for r in ROWS],
        [r.genres for r in ROWS],
    )
    scores = index.scores_for(np.array([5]), np.array([1.0], np.float32))
    assert scores[4] == pytest.approx(1.0)  # itself
    # Same genres, same decade and two shared words (1980) > same genres, near decade (1977).
    assert scores[1] > scores[0] > max(scores[2], scores[5]) > 0  # romances: a near decade


def test_snapshot_explore_and_content_neighbours() -> None:
    snapshot = CatalogSnapshot.of(3, ROWS)
    assert snapshot.deleted_ids.tolist() == [4] and snapshot.is_deleted(4)
    assert 4 not in snapshot.content.movie_ids.tolist()
    new_rows = np.flatnonzero(np.isin(snapshot.content.movie_ids, [5, 6]))
    # A space-opera fan gets the new space opera; a romance fan the new romance.
    fan, _ = new_for_user(snapshot, new_rows, History.of([1], [4.0]), 1)
    assert fan.tolist() == [5]
    romantic, _ = new_for_user(snapshot, new_rows, History.of([3], [4.0]), 1)
    assert romantic.tolist() == [6]
    # A dislike counts against: disliking the romance leaves the space opera first.
    both, _ = new_for_user(snapshot, new_rows, History.of([1, 3], [4.0, -4.0]), 2)
    assert both.tolist() == [5, 6]
    # Nothing in common with the history: the newest id gets the slot.
    unrelated, _ = new_for_user(snapshot, new_rows, History.empty(), 1)
    assert unrelated.tolist() == [6]
    assert new_for_user(snapshot, new_rows, History.of([1]), 0)[0].tolist() == []
    near, _ = content_neighbours(snapshot, 5, None, 2)
    assert near.tolist() == [2, 1]
    assert content_neighbours(snapshot, 4, None, 2)[0].tolist() == []  # deleted: none


@pytest.mark.parametrize(
    ("k", "share", "slots"), [(10, 0.1, 1), (4, 0.1, 0), (5, 0.1, 1), (10, 0.0, 0), (3, 1.0, 3)]
)
def test_explore_slots_round_half_up(k: int, share: float, slots: int) -> None:
    assert explore_slots(k, share) == slots
