"""Bodies of the VideoRec seed's ``/recommend/{user_id}``: ids and scores only."""

from __future__ import annotations

from pydantic import ConfigDict

from recsys.api.schemas.common import Out


class SeedItemOut(Out):
    """One item of the VideoRec seed's answer."""

    item_id: int
    score: float


class SeedRecommendationsOut(Out):
    """The VideoRec seed's response shape: ids and scores only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": 1, "recommendations": [{"item_id": 50, "score": 1.2031}]}]
        }
    )

    user_id: int
    recommendations: list[SeedItemOut]
