"""Why the fallback answers: the reason label of recsys_fallback_answers_total."""

from __future__ import annotations

import pytest

from recsys.modeling.base import History
from recsys.modeling.dataset import InteractionMatrix, build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service.fallback import NO_HISTORY, UNKNOWN_MOVIES, can_score, fallback_reason

UNSEEN_USER = 999  # not among the toy data's users 1..18
KNOWN_MOVIE, UNKNOWN_MOVIE = 100, 999


@pytest.fixture(scope="module")
def matrix() -> InteractionMatrix:
    return build_matrix(two_taste_groups(), weighting="confidence")


@pytest.mark.parametrize(
    ("user_id", "movies", "reason"),
    [
        (1, [], None),  # trained on: scores whatever the history
        (UNSEEN_USER, [], NO_HISTORY),
        (UNSEEN_USER, [UNKNOWN_MOVIE], UNKNOWN_MOVIES),
        (UNSEEN_USER, [UNKNOWN_MOVIE, KNOWN_MOVIE], None),  # folded in from the known one
    ],
)
def test_a_personalised_model_falls_back_only_when_nothing_it_knows(
    matrix: InteractionMatrix, user_id: int, movies: list[int], reason: str | None
) -> None:
    model = create_model("item_knn", {}).fit(matrix)
    history = History.of(movies) if movies else History.empty()
    assert fallback_reason(model, user_id, history) == reason
    assert can_score(model, user_id, history) is (reason is None)


def test_popularity_never_falls_back(matrix: InteractionMatrix) -> None:
    model = create_model("popularity", {}).fit(matrix)
    assert fallback_reason(model, UNSEEN_USER, History.empty()) is None
