"""The HTML pages over HTTP without a browser: status, key elements, escaping, error pages.

A tiny dataset of our own in PostgreSQL (the shared tiny movies plus one whose title is an
HTML attack), popularity and item_knn trained on it, the real lifespan in-process.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape

from recsys.settings import Settings
from tests.integration.served import serve
from tests.support.datasets import (
    TINY_MOVIES,
    TINY_RATINGS,
    TinyDataset,
    TinyMovie,
    TinyRating,
    WriteDataset,
)
from tests.support.training import train_into

TOKEN = "pages-test-token"
# A title a page must show as text, never run: quotes and an ampersand too (attributes).
HOSTILE_ID = 13
HOSTILE_TITLE = "<script>alert(1)</script> & 'Co' \"Ltd\""
HOSTILE = TinyMovie(HOSTILE_ID, HOSTILE_TITLE, 2001, ("Drama",))
# User 3 rated movie 5 in 2011 (the tiny dataset) and the hostile movie in 2012.
EXTRA_RATINGS = (
    TinyRating(3, HOSTILE_ID, 3.5, 1340000000),
    TinyRating(2, HOSTILE_ID, 4.0, 1440000000),
)
MODELS = ("item_knn", "popularity")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture(scope="module")
async def db_url(
    _pg_databases: Callable[[], Awaitable[str]],
    write_dataset: WriteDataset,
    migrate: Callable[..., Awaitable[None]],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    data_dir = tmp_path_factory.mktemp("pages-data")
    hostile_line = f'{HOSTILE_ID},"{HOSTILE_TITLE.replace(chr(34), chr(34) * 2)} (2001)",Drama'
    write_dataset(
        data_dir / "pages",
        ratings=[*TINY_RATINGS, *EXTRA_RATINGS],
        movies=[*TINY_MOVIES, hostile_line],
    )
    url = await _pg_databases()
    await migrate(url, "upgrade", "head", dataset="pages", data_dir=data_dir)
    return url


@pytest.fixture(scope="module")
async def store_dir(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages-artifacts")
    await train_into(db_url, folder, *MODELS)
    return folder


@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two evaluation reports of the dataset (the newer must win) and one of another."""
    root = tmp_path_factory.mktemp("reports")
    for folder, dataset, created, hr in (
        ("pages-random", "pages", "2026-01-01T00:00:00+00:00", 0.25),
        ("pages-leave-last-out", "pages", "2026-02-01T00:00:00+00:00", 0.5),
        ("other-leave-last-out", "other", "2026-03-01T00:00:00+00:00", 0.9),
    ):
        (root / folder).mkdir()
        doc = {
            "dataset": dataset,
            "protocol": folder.removeprefix(f"{dataset}-"),
            "k": 10,
            "created_at": created,
            "command": f"recsys evaluate --dataset {dataset}",
            "models": {
                "popularity": {
                    "coverage": 0.125,
                    "metrics": {"hr": {"mean": hr}, "ndcg": {"mean": hr / 2}},
                },
            },
        }
        (root / folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
        (root / folder / "metrics.png").write_bytes(PNG)
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    return root


def settings_for(url: str, store: Path, reports: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": url,
        "artifact_uri": f"file://{store}",
        "models": MODELS,
        "default_model": "item_knn",
        "api_write_token": TOKEN,
        "dataset": "pages",
        "reports_dir": reports,
        **overrides,
    }
    return Settings(**options)


@pytest.fixture(scope="module")
async def client(
    db_url: str, store_dir: Path, reports_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(db_url, store_dir, reports_dir)) as client:
        yield client


def section(page: str, attribute: str, value: str) -> str:
    """The HTML of the first ``<section {attribute}="{value}">`` up to the next section."""
    match = re.search(
        rf'<section[^>]*{attribute}="{re.escape(value)}"(.*?)(?=<section|\Z)', page, re.S
    )
    assert match is not None, f"no section {attribute}={value}"
    return match.group(1)


def movie_ids(fragment: str, tag: str = "li") -> list[int]:
    return [int(i) for i in re.findall(rf'<{tag} data-movie-id="(\d+)"', fragment)]


async def html_page(client: httpx.AsyncClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    return response.text


# -- home ------------------------------------------------------------------------------------


async def test_home_has_a_labelled_user_form_and_lists_the_loaded_models(
    client: httpx.AsyncClient,
) -> None:
    page = await html_page(client, "/")
    assert '<label for="user-id">User id</label>' in page
    assert '<form class="pick" action="/ui/users" method="get">' in page
    assert 'href="/ui/users/random"' in page
    assert "<li>item_knn (default)</li>" in page
    assert "<li>popularity</li>" in page


async def test_the_form_redirects_to_the_user_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/users", params={"user_id": " 3 "})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/users/3"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "user id must be a whole number, got &#39;abc&#39;"),
        ("", "user id must be a whole number, got &#39;&#39;"),
        ("99999999999", "user id must be between -2147483648 and 2147483647, got 99999999999"),
    ],
)
async def test_a_bad_user_id_is_a_readable_422_page(
    client: httpx.AsyncClient, raw: str, message: str
) -> None:
    page = await html_page(client, f"/ui/users?user_id={raw}", 422)
    assert "<h2>Error 422</h2>" in page
    assert message in page
    assert "Traceback" not in page


async def test_random_user_redirects_to_a_user_the_models_know(client: httpx.AsyncClient) -> None:
    known = {r.user_id for r in TINY_RATINGS}
    for _ in range(5):
        response = await client.get("/ui/users/random")
        assert response.status_code == 303
        location = response.headers["location"]
        assert re.fullmatch(r"/ui/users/\d+", location)
        assert int(location.rsplit("/", 1)[1]) in known


# -- user page -------------------------------------------------------------------------------


async def test_user_page_shows_history_newest_first_with_the_hostile_title_escaped(
    client: httpx.AsyncClient,
) -> None:
    page = await html_page(client, "/ui/users/3")
    history = section(page, "id", "history")
    assert movie_ids(history, "tr") == [HOSTILE_ID, 5]
    assert escape(HOSTILE_TITLE) in history
    assert "rated 3.5" in history and "rated 1.0" in history
    # 1340000000, in UTC
    assert '"2012-06-18T06:13:20+00:00"><span>2012-06-18</span> <span>06:13 UTC</span>' in history
    assert "<script>alert" not in page
    # User 1 has not rated it: recommended, with the title in attributes, quotes escaped too.
    page = await html_page(client, "/ui/users/1")
    assert "<script>alert" not in page
    assert (
        'data-title="&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;Co&#39; &#34;Ltd&#34;"'
        in page
    )


async def test_user_page_has_one_column_per_model_matching_the_json_api(
    client: httpx.AsyncClient,
) -> None:
    page = await html_page(client, "/ui/users/1")
    # The default model's column first.
    assert re.findall(r'<section class="column" data-model="(\w+)"', page) == [
        "item_knn",
        "popularity",
    ]
    for model in MODELS:
        api = (await client.get(f"/users/1/recommendations?k=10&model={model}")).json()
        column = section(page, "data-model", model)
        assert movie_ids(column) == [m["id"] for m in api["movies"]], model
        assert f"version <code>{api['model_version']}</code>" in column
        for m in api["movies"]:
            assert f'data-event="like" data-movie-id="{m["id"]}"' in column
            assert f"{m['score']:.3f}" in column
        assert ("data-fallback" in column) == api["fallback"]
    # Watch, like, complete: lightest first; then dislike, the negative feedback.
    assert re.findall(r'data-event="(\w+)"', page)[:4] == ["watch", "like", "complete", "dislike"]
    assert 'src="/static/feedback.js"' in page
    assert 'data-events-url="/events"' in page
    assert "Writes are off" not in page


async def test_user_page_filter_form_gives_the_json_apis_filtered_columns(
    client: httpx.AsyncClient,
) -> None:
    plain = await html_page(client, "/ui/users/2")
    form = plain[plain.index('<form id="filter-form"') :]
    form = form[: form.index("</form>")]
    # Every genre of the catalogue is offered, nothing chosen yet; every control is labelled.
    genres = sorted({g for m in [*TINY_MOVIES, HOSTILE] for g in m.genres})
    assert re.findall(r'<option value="([^"]+)">', form) == [str(escape(g)) for g in genres] * 2
    for control in re.findall(r'id="(f-[a-z-]+)"', form):
        assert f'<label for="{control}">' in form
    # A multiple select sends one genre per repeated name; the page joins them as the API's
    # comma list and every column is the JSON API's filtered answer.
    page = await html_page(
        client, "/ui/users/2?genres=Comedy&genres=Drama&year_min=1990&year_max=&diversify="
    )
    for model in MODELS:
        api = (
            await client.get(
                f"/users/2/recommendations?k=10&model={model}&genres=Comedy,Drama&year_min=1990"
            )
        ).json()
        column = section(page, "data-model", model)
        assert movie_ids(column) == [m["id"] for m in api["movies"]], model
        assert f'data-eligible="{api["eligible"]}"' in column
    assert '<option value="Comedy" selected>' in page and 'value="1990"' in page
    bad = await html_page(client, "/ui/users/2?year_min=2000&year_max=1990", status=422)
    assert "year_min: 2000 is after year_max 1990" in bad


async def test_item_knn_gives_its_reason(client: httpx.AsyncClient) -> None:
    page = await html_page(client, "/ui/users/1")
    api = (await client.get("/users/1/recommendations?model=item_knn")).json()
    reasons = [m["reason"] for m in api["movies"] if m.get("reason")]
    assert reasons, "item_knn gave no reason on the tiny data"
    for reason in reasons:
        assert f'<div class="reason">{escape(reason)}</div>' in page


async def test_unknown_user_page_is_a_404_with_the_apis_words(client: httpx.AsyncClient) -> None:
    api = await client.get("/users/424242/recommendations")
    assert api.status_code == 404
    page = await html_page(client, "/ui/users/424242", 404)
    assert f'<p class="detail">{escape(api.json()["detail"])}</p>' in page


async def test_a_malformed_user_in_the_path_is_a_422_page(client: httpx.AsyncClient) -> None:
    page = await html_page(client, "/ui/users/12abc", 422)
    assert "user id must be a whole number, got &#39;12abc&#39;" in page
    # What the URL said is shown as text, in the title and the message alike.
    page = await html_page(client, "/ui/movies/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", 422)
    assert "<img src=x" not in page
    assert "<title>Movie &lt;img src=x onerror=alert(1)&gt; · recsys</title>" in page
    assert "got &#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in page


async def test_without_a_token_the_buttons_say_writes_are_off(
    db_url: str, store_dir: Path, reports_dir: Path
) -> None:
    async with serve(settings_for(db_url, store_dir, reports_dir, api_write_token=None)) as off:
        page = await html_page(off, "/ui/users/1")
    assert "Writes are off" in page
    buttons = re.findall(r"<button[^>]*data-event[^>]*>", page)
    assert buttons and all("disabled" in b and 'title="writes are off"' in b for b in buttons)
    assert 'id="token-form"' not in page


async def test_a_configured_model_without_artifact_shows_the_apis_503_words(
    db_url: str, store_dir: Path, reports_dir: Path
) -> None:
    settings = settings_for(db_url, store_dir, reports_dir, models=("als", *MODELS))
    async with serve(settings) as partial:
        api = await partial.get("/users/1/recommendations?model=als")
        assert api.status_code == 503
        page = await html_page(partial, "/ui/users/1")
        models = await html_page(partial, "/ui/models")
    column = section(page, "data-model", "als")
    assert f'<p class="error" role="alert">{escape(api.json()["detail"])}</p>' in column
    assert movie_ids(section(page, "data-model", "popularity"))  # the others still answer
    assert "Not loaded:" in section(models, "data-model", "als")


# -- movie page ------------------------------------------------------------------------------


async def test_movie_page_shows_facts_counts_and_similar_movies(client: httpx.AsyncClient) -> None:
    page = await html_page(client, f"/ui/movies/{HOSTILE_ID}")
    assert f"<h1>{escape(HOSTILE_TITLE)}</h1>" in page
    assert f"<title>{escape(HOSTILE_TITLE)} · recsys</title>" in page
    assert "<script>alert" not in page
    assert "<dd>2001</dd>" in page and "Drama" in page
    assert '<dd data-count="ratings">2</dd>' in page
    # item_knn compares movies; popularity does not, so it has no column.
    assert re.findall(r'<section class="column" data-model="(\w+)"', page) == ["item_knn"]
    api = (await client.get(f"/movies/{HOSTILE_ID}/similar?k=10&model=item_knn")).json()
    assert movie_ids(section(page, "data-model", "item_knn")) == [m["id"] for m in api["movies"]]


async def test_movie_page_of_an_unrated_movie(client: httpx.AsyncClient) -> None:
    page = await html_page(client, "/ui/movies/11")
    assert '<dd data-count="ratings">0</dd>' in page
    assert "did not see the movie in training" in page


async def test_unknown_movie_page_is_a_404_with_the_apis_words(client: httpx.AsyncClient) -> None:
    api = await client.get("/movies/424242")
    page = await html_page(client, "/ui/movies/424242", 404)
    assert f'<p class="detail">{escape(api.json()["detail"])}</p>' in page


# -- models page -----------------------------------------------------------------------------


async def test_models_page_lists_versions_latest_and_the_newest_report(
    client: httpx.AsyncClient, store_dir: Path
) -> None:
    page = await html_page(client, "/ui/models")
    for model in MODELS:
        latest = (store_dir / model / "LATEST").read_text().strip()
        part = section(page, "data-model", model)
        assert f"Serving <code data-serving>{latest}</code>" in part
        assert f'<tr data-version="{latest}" data-latest>' in part
        assert '<strong class="latest">LATEST</strong>' in part
        assert "users ×" in part
    # The newer report of this dataset, not the older one nor the other dataset's.
    report = page[page.index('id="report-heading"') :]
    assert "<strong>leave-last-out</strong>" in report
    assert "<td>0.5000</td><td>0.2500</td>" in report
    assert "0.9000" not in report and "0.2500</td><td>0.1250" not in report
    src = "/ui/reports/pages-leave-last-out/metrics.png"
    assert f'<img src="{src}"' in report
    plot = await client.get(src)
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content == PNG
    # The popularity section repeats its own offline numbers.
    assert "HR@10 0.5000" in section(page, "data-model", "popularity")


@pytest.mark.parametrize(
    "path",
    [
        "/ui/reports/pages-leave-last-out/results.json",
        "/ui/reports/pages-leave-last-out/missing.png",
        "/ui/reports/..%2F..%2Fetc/passwd.png",
        "/ui/reports/../metrics.png",
    ],
)
async def test_only_report_pngs_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] != "image/png"


async def test_models_page_without_reports_says_how_to_make_one(
    db_url: str, store_dir: Path, tmp_path: Path
) -> None:
    async with serve(settings_for(db_url, store_dir, tmp_path / "none")) as bare:
        page = await html_page(bare, "/ui/models")
    assert "make evaluate dataset=pages" in page


async def test_models_page_marks_latest_among_several_versions(
    db_url: str, store_dir: Path, reports_dir: Path, tmp_path: Path
) -> None:
    store = Path(shutil.copytree(store_dir, tmp_path / "artifacts"))
    await train_into(db_url, store, "popularity")
    newest = (store / "popularity" / "LATEST").read_text().strip()
    async with serve(settings_for(db_url, store, reports_dir)) as several:
        page = await html_page(several, "/ui/models")
    part = section(page, "data-model", "popularity")
    versions = re.findall(r'<tr data-version="([^"]+)"', part)
    assert len(versions) == 2 and versions[0] == newest
    assert part.count("data-latest") == 1 and f'data-version="{newest}" data-latest' in part


# -- the JSON contract and the static files --------------------------------------------------


async def test_openapi_lists_no_html_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/ui", "/static"))]
    assert "/users/{user_id}/recommendations" in paths


async def test_static_files_are_served_by_the_app(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/feedback.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "sessionStorage" in script.text and "eventsUrl" in script.text
    style = await client.get("/static/pages.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    # No page reaches outside the app for a script, style or font.
    for path in ("/", "/ui/users/1", "/ui/movies/1", "/ui/models"):
        page = await html_page(client, path)
        assert not re.search(r'(src|href)="(https?:)?//', page), path


# -- events in the history, the embedded SQLite default, a lost database --------------------


async def test_an_event_posted_to_the_api_heads_the_history_and_leaves_the_columns(
    db_url: str, store_dir: Path, reports_dir: Path
) -> None:
    # A server of its own: this test writes, the module's other tests read known answers.
    async with serve(settings_for(db_url, store_dir, reports_dir)) as own:
        before = await html_page(own, "/ui/users/4")
        liked = movie_ids(section(before, "data-model", "popularity"))[0]
        posted = await own.post(
            "/events",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"events": [{"user_id": 4, "movie_id": liked, "type": "like"}]},
        )
        assert posted.status_code == 201, posted.text
        after = await html_page(own, "/ui/users/4")
    history = section(after, "id", "history")
    assert re.findall(r'<tr data-movie-id="(\d+)" data-kind="(\w+)"', history)[0] == (
        str(liked),
        "like",
    )
    assert "<td>like</td>" in history
    for model in MODELS:
        assert liked not in movie_ids(section(after, "data-model", model)), model


async def test_the_pages_work_on_the_embedded_sqlite_default(
    tmp_path: Path,
    migrate: Callable[..., Awaitable[None]],
    tiny_dataset: TinyDataset,
    reports_dir: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'recsys.db'}"
    await migrate(url, "upgrade", "head", dataset=tiny_dataset.name, data_dir=tiny_dataset.data_dir)
    store = tmp_path / "artifacts"
    await train_into(url, store, *MODELS)
    async with serve(settings_for(url, store, reports_dir, dataset="tiny")) as lite:
        page = await html_page(lite, "/ui/users/1")
        # User 1 rated 7 (newest), 1, 5, then 3 (tiny dataset's known order).
        assert movie_ids(section(page, "id", "history"), "tr") == [7, 1, 5, 3]
        # 2, and 11 (never rated: new in the catalogue) in the explore slot.
        assert movie_ids(section(page, "data-model", "popularity")) == [2, 11]
        movie = await html_page(lite, "/ui/movies/7")
        assert '<dd data-count="ratings">2</dd>' in movie
        assert "<h1>Sabrina</h1>" in movie
        models = await html_page(lite, "/ui/models")
        assert models.count('<strong class="latest">LATEST</strong>') == len(MODELS)


async def test_a_lost_database_is_a_503_page_with_the_apis_words(
    store_dir: Path, reports_dir: Path
) -> None:
    # Nothing listens on this port of ours: every connection is refused.
    url = "postgresql+asyncpg://postgres@127.0.0.1:8169/none"
    settings = settings_for(
        url, store_dir, reports_dir, history_cache="off", db_connect_timeout_seconds=2
    )
    async with serve(settings) as lost:
        api = await lost.get("/users/1/recommendations")
        assert api.status_code == 503
        for path in ("/ui/users/1", "/ui/movies/1"):
            page = await html_page(lost, path, 503)
            assert f'<p class="detail">{escape(api.json()["detail"])}</p>' in page
            assert "Traceback" not in page and "8169" not in page


# -- every page is well-formed HTML ---------------------------------------------------------

_VOID = {"meta", "link", "input", "br", "img", "hr", "source", "wbr"}


class _Balance(HTMLParser):
    """Fails on a closing tag that closes nothing open, and on tags left open at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [v for k, v in attrs if k == "id" and v is not None]
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-3:]}"
        self.open.pop()


@pytest.mark.parametrize(
    "path", ["/", "/ui/users/1", "/ui/users/3", "/ui/movies/13", "/ui/models", "/ui/users/0"]
)
async def test_every_page_is_balanced_html_with_unique_ids_and_labelled_inputs(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    page = response.text
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"left open: {parser.open}"
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    for input_id in re.findall(r'<input id="([^"]+)"', page):
        assert f'<label for="{input_id}">' in page, input_id
    assert '<html lang="en">' in page and '<meta name="viewport"' in page


async def test_a_user_a_model_cannot_score_gets_the_fallback_marker(
    db_url: str, store_dir: Path, reports_dir: Path
) -> None:
    async with serve(settings_for(db_url, store_dir, reports_dir)) as own:
        # A new user whose one event is on a movie no model was trained on (11: never rated).
        posted = await own.post(
            "/users/500/events",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"events": [{"movie_id": 11, "type": "watch", "value": 0.5}]},
        )
        assert posted.status_code == 201, posted.text
        api = (await own.get("/users/500/recommendations?model=item_knn")).json()
        page = await html_page(own, "/ui/users/500")
    assert api["fallback"] is True and api["model"] == "popularity"
    knn = section(page, "data-model", "item_knn")
    assert "fallback: answered by popularity" in knn
    assert movie_ids(knn) == [m["id"] for m in api["movies"]]
    assert "data-fallback" not in section(page, "data-model", "popularity")
    history = section(page, "id", "history")
    assert movie_ids(history, "tr") == [11] and "<td>watch (0.5)</td>" in history


async def test_the_models_page_follows_a_hot_reload(
    db_url: str, store_dir: Path, reports_dir: Path, tmp_path: Path
) -> None:
    store = Path(shutil.copytree(store_dir, tmp_path / "artifacts"))
    old = (store / "popularity" / "LATEST").read_text().strip()
    async with serve(settings_for(db_url, store, reports_dir)) as own:
        await train_into(db_url, store, "popularity")
        new = (store / "popularity" / "LATEST").read_text().strip()
        before = section(await html_page(own, "/ui/models"), "data-model", "popularity")
        reloaded = await own.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reloaded.status_code == 200, reloaded.text
        after = section(await html_page(own, "/ui/models"), "data-model", "popularity")
        user = section(await html_page(own, "/ui/users/1"), "data-model", "popularity")
    # Before the reload the old version serves while LATEST already names the new one.
    assert f"Serving <code data-serving>{old}</code>" in before
    assert f'data-version="{new}" data-latest' in before
    assert f"Serving <code data-serving>{new}</code>" in after
    assert f"version <code>{new}</code>" in user


async def test_with_no_model_loaded_the_pages_say_so(
    db_url: str, reports_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-store"
    empty.mkdir()
    settings = settings_for(db_url, empty, reports_dir, models=("als",), default_model="als")
    async with serve(settings) as bare:
        home = await html_page(bare, "/")
        picked = await html_page(bare, "/ui/users/random", 503)
        user = await html_page(bare, "/ui/users/1")
    assert "No model is loaded" in home and "<strong>als</strong> not loaded:" in home
    assert "no model is loaded, so there is no user to pick at random" in picked
    # The history still shows; the one column says why it is empty.
    assert movie_ids(section(user, "id", "history"), "tr") == [7, 1, 5, 3]
    assert "no trained &#39;als&#39; model" in section(user, "data-model", "als")
