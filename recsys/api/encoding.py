"""The hot routes' JSON, encoded once: service results -> bytes with orjson.

FastAPI would validate a route's return value against its ``response_model`` and then
serialise it (twice the work, ~3% of a recommendation request). The hot routes return these
bytes instead; their ``response_model`` still documents the shape, and a test holds the two
encodings equal (tests/api/test_encoding.py). Keys are in the schemas' field order.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from recsys.service.recommend import Recommendations, ScoredMovie


class JSONBytes(Response):
    """An ``application/json`` response whose body is already encoded."""

    media_type = "application/json"


def scored_movie(movie: ScoredMovie) -> dict[str, Any]:
    """``ScoredMovieOut`` as a dict."""
    return {
        "id": movie.id,
        "title": movie.title,
        "genres": list(movie.genres),
        "year": movie.year,
        "score": movie.score,
        "reason": movie.reason,
    }


def recommendations(result: Recommendations) -> JSONBytes:
    """``RecommendationsOut``, encoded."""
    return JSONBytes(
        orjson.dumps(
            {
                "user_id": result.user_id,
                "model": result.model,
                "model_version": result.model_version,
                "fallback": result.fallback,
                "movies": [scored_movie(m) for m in result.movies],
                "eligible": result.eligible,
            }
        )
    )
