"""Every example in the OpenAPI document is true of the catalogue ``make demo`` seeds.

Each example (of a schema, a property or a parameter) validates against the schema it sits
in; every movie id in one is a movie of MovieLens 100K, and a movie object shown is that
movie as the catalogue has it (title, year, genres); every user id is a user of it, except
the external ids of the event examples, which name a user the event creates (documented).
The request-body examples are also sent as they are and accepted.

The app runs on PostgreSQL with the real MovieLens 100K, popularity trained on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.training import train_into

pytestmark = pytest.mark.realdata

TOKEN = "examples-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MOVIE_KEYS = {"movie_id", "item_id", "videoId", "id"}
USER_KEYS = {"user_id", "userId"}
# Schemas whose examples may name a user that does not exist yet: an event creates it.
CREATING_USERS = {"EventIn"}


@dataclass(frozen=True)
class Example:
    """One example value, where it sits in the document and the schema it must satisfy."""

    where: str  # a JSON pointer-ish path in the document, for messages
    component: str | None  # the components/schemas entry it belongs to, if any
    name: str | None  # the property or parameter it is the example of, if any
    schema: dict[str, Any]
    value: Any


def examples_in(node: Any, where: str = "", component: str | None = None) -> Iterator[Example]:
    """Every ``examples`` list of a schema in ``node``, with its context."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples_in(item, f"{where}/{index}", component)
        return
    if not isinstance(node, dict):
        return
    if where.startswith("/components/schemas/") and where.count("/") == 3:
        component = where.rsplit("/", 1)[1]
    name = where.rsplit("/", 1)[1] if "/properties/" in where else None
    if "in" in node and "schema" in node:  # a parameter: its examples sit in its schema
        for value in node["schema"].get("examples", []):
            yield Example(where, component, node["name"], node["schema"], value)
        return
    examples = node.get("examples")
    if isinstance(examples, list):
        schema = {k: v for k, v in node.items() if k != "examples"}
        for value in examples:
            yield Example(where, component, name, schema, value)
    for key, child in node.items():
        if key != "examples":
            yield from examples_in(child, f"{where}/{key}", component)


def ids_in(name: str | None, value: Any) -> Iterator[tuple[str, Any]]:
    """``("movie" | "user" | "movie object", value)`` for every id an example holds."""
    if isinstance(value, dict):
        if "id" in value and "title" in value:
            yield "movie object", value
        for key, item in value.items():
            if key != "id" or "title" in value:  # a bare "id" is a movie's only in a movie
                yield from ids_in(key, item)
        return
    if isinstance(value, list):
        for item in value:
            yield from ids_in(name, item)
        return
    if name in MOVIE_KEYS:
        yield "movie", value
    elif name in USER_KEYS:
        yield "user", value


@pytest.fixture(scope="module")
async def client(
    ml100k_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    folder: Path = await train_into(ml100k_url, tmp_path_factory.mktemp("artifacts"))
    settings = Settings(
        database_url=ml100k_url,
        artifact_uri=f"file://{folder}",
        models=("popularity",),
        default_model="popularity",
        api_write_token=TOKEN,
    )
    async with serve(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def examples(document: dict[str, Any]) -> list[Example]:
    found = list(examples_in(document))
    # The document has examples on every body and on the id parameters: a walk that found
    # few would be a broken walk, not a clean document.
    assert len(found) >= 25, [e.where for e in found]
    return found


def test_every_example_validates_against_its_schema(
    document: dict[str, Any], examples: list[Example]
) -> None:
    problems = []
    for example in examples:
        # The document's components beside the schema, so its "#/components/..." refs resolve.
        schema = {**example.schema, "components": document["components"]}
        validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        problems += [f"{example.where}: {e.message}" for e in validator.iter_errors(example.value)]
    assert problems == []


async def test_every_id_in_an_example_is_in_movielens_100k(
    client: httpx.AsyncClient, examples: list[Example]
) -> None:
    checked: dict[str, int] = {"movie": 0, "user": 0, "movie object": 0}
    problems = []
    for example in examples:
        for kind, value in ids_in(example.name, example.value):
            checked[kind] += 1
            if kind == "movie object":
                found = await client.get(f"/movies/{value['id']}")
                shown = {k: value[k] for k in ("id", "title", "year", "genres")}
                if found.status_code != 200 or found.json() != shown:
                    problems.append(f"{example.where}: {shown} is not {found.text}")
            elif kind == "movie":
                # Movies are named by our integer ids: ML-100K has no external ids.
                if (
                    not isinstance(value, int)
                    or (await client.get(f"/movies/{value}")).status_code != 200
                ):
                    problems.append(f"{example.where}: movie {value!r} is not in the catalogue")
            elif isinstance(value, str) and not value.isdigit():
                if example.component not in CREATING_USERS:
                    problems.append(f"{example.where}: user {value!r} does not exist")
            elif (await client.get(f"/users/{value}/ratings?limit=1")).status_code != 200:
                problems.append(f"{example.where}: user {value!r} does not exist")
    assert problems == []
    assert all(checked.values()), checked  # movies, users and movie objects were all seen


async def test_the_request_body_examples_are_accepted_as_they_are(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    schemas = document["components"]["schemas"]
    invocation = schemas["InvocationIn"]["examples"]
    for body in invocation:
        response = await client.post("/invocations", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["userId"] == body["user_id"]
    events = await client.post(
        "/events", json={"events": schemas["EventIn"]["examples"]}, headers=AUTH
    )
    assert events.status_code == 201, events.text
    user_events = await client.post(
        "/users/1/events", json={"events": schemas["UserEventIn"]["examples"]}, headers=AUTH
    )
    assert user_events.status_code == 201, user_events.text
