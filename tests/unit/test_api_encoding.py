"""The hot routes' own JSON encoding says exactly what FastAPI's response_model would."""

from __future__ import annotations

import json

from recsys.api import encoding
from recsys.api.schemas.users import RecommendationsOut
from recsys.service.recommend import Recommendations, ScoredMovie

RESULT = Recommendations(
    user_id=7,
    model="item_knn",
    model_version="20261202T000000.000000Z-abcdef",
    fallback=False,
    movies=[
        ScoredMovie(
            50, "Star Wars", 1977, ("Action", "Adventure"), 1.2031, "because you watched X"
        ),
        ScoredMovie(1, "Amélie \u2013 «Le Fabuleux Destin»", None, (), 3.4e-07, None),
        ScoredMovie(2, 'Quote "and" \\ backslash', 2001, ("Drama",), -0.0, None),
    ],
)


def test_the_encoded_answer_equals_the_response_models_in_content_and_key_order() -> None:
    ours = json.loads(bytes(encoding.recommendations(RESULT).body))
    theirs = json.loads(RecommendationsOut.model_validate(RESULT).model_dump_json())
    assert ours == theirs
    assert list(ours) == list(theirs)
    assert [list(m) for m in ours["movies"]] == [list(m) for m in theirs["movies"]]


def test_the_encoded_answer_is_json_with_the_right_media_type() -> None:
    response = encoding.recommendations(RESULT)
    assert response.media_type == "application/json"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body))["movies"][1]["title"].startswith("Amélie")
