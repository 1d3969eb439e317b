"""Reasons over HTTP: sequence models trained from PostgreSQL say which watched movie led them.

A catalogue of two film series, watched in order by every user: after "Alien" comes "Aliens",
after "Toy Story" comes "Toy Story 2". A user whose latest movie is "Alien" must be offered
"Aliens" first, "because you watched Alien", by ``transitions`` and by ``two_stage`` (trained
through ``recsys.service.training.train``, which reads the movies' years and genres from the
database).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS
from tests.integration.served import serve
from tests.integration.test_api import movies_of, settings_for
from tests.support.databases import run_alembic
from tests.support.datasets import TinyMovie, TinyRating, WriteDataset

WEIGHTS = EventWeights(DEFAULT_EVENT_WEIGHTS)

ALIEN, ALIENS, ALIEN_3, TOY_STORY, TOY_STORY_2, TOY_STORY_3 = 1, 2, 3, 4, 5, 6
MOVIES = (
    TinyMovie(ALIEN, "Alien", 1979, ("Horror", "Sci-Fi")),
    TinyMovie(ALIENS, "Aliens", 1986, ("Action", "Sci-Fi")),
    TinyMovie(ALIEN_3, "Alien 3", 1992, ("Action", "Sci-Fi")),
    TinyMovie(TOY_STORY, "Toy Story", 1995, ("Animation", "Comedy")),
    TinyMovie(TOY_STORY_2, "Toy Story 2", 1999, ("Animation", "Comedy")),
    TinyMovie(TOY_STORY_3, "Toy Story 3", 2010, ("Animation", "Comedy")),
)
DAY = 86_400
T0 = 1_300_000_000
USERS = 60
# Has watched the Toy Story films, then Alien (as half the users did): next comes Aliens.
VIEWER = USERS + 1
VIEWED = (TOY_STORY, TOY_STORY_2, TOY_STORY_3, ALIEN)
TWO_STAGE = {"per_source": 10, "periods": 2, "min_child_samples": 5, "num_threads": 1}


def ratings() -> list[TinyRating]:
    rows = []
    for user in range(1, USERS + 1):
        start = T0 + user * DAY
        # Half the users watch the Alien films first, half the Toy Story films; always in order.
        series = [[ALIEN, ALIENS, ALIEN_3], [TOY_STORY, TOY_STORY_2, TOY_STORY_3]]
        order = series if user % 2 else series[::-1]
        watched = order[0] + order[1][: 1 + user % 3]
        rows += [TinyRating(user, m, 4.0, start + n * 3600) for n, m in enumerate(watched)]
    start = T0 + VIEWER * DAY
    rows += [TinyRating(VIEWER, m, 4.0, start + n * 3600) for n, m in enumerate(VIEWED)]
    return rows


@pytest.fixture(scope="module")
async def url(
    _pg_databases: Callable[[], Awaitable[str]],
    write_dataset: WriteDataset,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    data_dir = tmp_path_factory.mktemp("series")
    write_dataset(data_dir / "series", ratings=ratings(), movies=MOVIES)
    url = await _pg_databases()
    await run_alembic(url, "upgrade", "head", dataset="series", data_dir=data_dir)
    return url


@pytest.fixture(scope="module")
async def store_dir(url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    store = LocalArtifactStore(folder)
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        for model_type, params in (
            ("transitions", {}),
            ("two_stage", TWO_STAGE),
            ("als", {"factors": 4, "iterations": 3}),
            ("popularity", {}),
        ):
            await train(
                sessions, weights=WEIGHTS, model_type=model_type, store=store, params=params
            )
    finally:
        await engine.dispose()
    return folder


@pytest.mark.parametrize("model_type", ["transitions", "two_stage"])
async def test_the_next_film_comes_first_because_you_watched_the_last(
    url: str, store_dir: Path, model_type: str
) -> None:
    settings = settings_for(
        url, store_dir, models=("transitions", "two_stage", "als", "popularity")
    )
    async with serve(settings) as client:
        movies = movies_of(await client.get(f"/users/{VIEWER}/recommendations?model={model_type}"))
    first = movies[0]
    assert (first["id"], first["reason"]) == (ALIENS, "because you watched Alien")
    # A reason only ever names a movie the viewer has watched.
    watched = {f"because you watched {m.title}" for m in MOVIES if m.id in VIEWED}
    assert {m["reason"] for m in movies} - {None} <= watched


async def test_models_without_item_to_item_structure_answer_without_reasons(
    url: str, store_dir: Path
) -> None:
    settings = settings_for(url, store_dir, models=("als", "popularity"))
    async with serve(settings) as client:
        movies = movies_of(await client.get(f"/users/{VIEWER}/recommendations"))
    assert movies and all(m["reason"] is None for m in movies)
