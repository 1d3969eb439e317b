"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``recsys serve`` runs as a process on a port of 8160..8169 with ML-100K in PostgreSQL and ALS,
ItemKNN and popularity trained on it, as ``make demo`` serves them. The tests click through
home -> user -> like a recommendation with the write token -> the movie leaves the refreshed
column and heads the history; the movie page; the models page; a phone-width screen, no
JavaScript, the keyboard. Screenshots of each page go to reports/ui/ (not committed).

Without /usr/bin/chromium (or RECSYS_CHROMIUM) the tests skip, except under CI, where that is
a failure: .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.support.datasets import REPO_ROOT
from tests.support.network import free_port_in
from tests.support.servers import recsys_serve
from tests.support.training import train_into

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("RECSYS_CHROMIUM", "/usr/bin/chromium"))
PORTS = range(8160, 8170)  # this suite's HTTP ports
TOKEN = "browser-test-token"
MODELS = ("als", "item_knn", "popularity")
SCREENSHOTS = REPO_ROOT / "reports" / "ui"
REPORTS = REPO_ROOT / "reports"
# Generous waits for a busy 2-core machine: a wait that runs out fails the test; none of these
# is a speed assertion.
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set RECSYS_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
async def store_dir(ml100k_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-artifacts")
    await train_into(ml100k_url, folder, *MODELS)
    return folder


@pytest.fixture(scope="module")
def serve_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``recsys serve`` printed (its banner, then uvicorn's log)."""
    return tmp_path_factory.mktemp("browser-serve") / "serve.log"


@pytest.fixture(scope="module")
def server(
    chromium: Path, ml100k_url: str, store_dir: Path, serve_log: Path
) -> Iterator[httpx.Client]:
    """``recsys serve`` (one worker) on ML-100K, the three models and the repo's reports."""
    env = {
        "RECSYS_DATABASE_URL": ml100k_url,
        "RECSYS_ARTIFACT_URI": f"file://{store_dir}",
        "RECSYS_MODELS": ",".join(MODELS),
        "RECSYS_DEFAULT_MODEL": "als",
        "RECSYS_API_WRITE_TOKEN": TOKEN,
        "RECSYS_DATASET": "ml-100k",
        "RECSYS_REPORTS_DIR": str(REPORTS),
    }
    with recsys_serve(env, serve_log, "--workers", "1", port=free_port_in(PORTS)) as client:
        yield client


@pytest.fixture(scope="module")
def browser(chromium: Path, server: httpx.Client) -> Iterator[Browser]:
    # After the server: Playwright's sync API runs an event loop in this thread while it is
    # open, and the async database fixtures the server needs cannot start inside one.
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            launched.close()


# The elements that stick out past the screen's right edge, named, for the failure message.
WIDER_THAN_SCREEN = """
[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
  .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
  .slice(0, 8)
"""


def new_page(browser: Browser, server: httpx.Client, **context: Any) -> Page:
    page = browser.new_context(base_url=str(server.base_url), **context).new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # Which URL failed, so a missing asset is named (the console line does not say).
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def no_js_errors(page: Page) -> None:
    errors: list[str] = page.js_errors  # type: ignore[attr-defined]
    assert errors == []


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def column(page: Page, model: str) -> Locator:
    return page.locator(f'#recommendations section.column[data-model="{model}"]')


def rows(page: Page, model: str) -> Locator:
    return column(page, model).locator("ol.recs > li")


def test_like_a_recommendation_and_see_it_land(browser: Browser, server: httpx.Client) -> None:
    page = new_page(browser, server)
    page.goto("/")
    expect(page.get_by_role("heading", name="Movie recommendations")).to_be_visible()
    shot(page, "home")

    page.get_by_label("User id").fill("1")
    page.get_by_role("button", name="Show user").click()
    expect(page).to_have_url(re.compile(r"/ui/users/1$"))
    expect(page.locator("#history tbody tr").first).to_be_visible()

    # One column per loaded model, the default (als) first, each with 10 titled rows.
    expect(page.locator("#recommendations section.column")).to_have_count(len(MODELS))
    shown = page.locator("#recommendations section.column").evaluate_all(
        "cols => cols.map(c => c.dataset.model)"
    )
    assert shown == ["als", "item_knn", "popularity"]
    for model in MODELS:
        expect(rows(page, model)).to_have_count(10)
        titles = rows(page, model).locator(".title a").all_inner_texts()
        assert len(titles) == 10 and all(t.strip() for t in titles), model
        expect(column(page, model).locator(".meta code")).not_to_be_empty()
    shot(page, "user")

    # The token, entered once, is kept in this tab's session storage.
    page.get_by_label("Write token").fill(TOKEN)
    page.get_by_role("button", name="Keep for this tab").click()
    expect(page.locator("#feedback-status")).to_have_text("Token kept for this tab.")
    assert page.evaluate("sessionStorage.getItem('recsys.writeToken')") == TOKEN

    first = rows(page, "als").first
    movie_id = first.get_attribute("data-movie-id")
    title = first.locator(".title a").inner_text()
    assert movie_id is not None
    first.get_by_role("button", name="like", exact=True).click()

    expect(page.locator("#feedback-status")).to_contain_text(f"Recorded like for {title}")
    # The refreshed column no longer has it (and is still a top 10); the history starts with it.
    expect(column(page, "als").locator(f'li[data-movie-id="{movie_id}"]')).to_have_count(0)
    expect(rows(page, "als")).to_have_count(10)
    newest = page.locator("#history tbody tr").first
    expect(newest).to_have_attribute("data-movie-id", movie_id)
    expect(newest).to_have_attribute("data-kind", "like")
    expect(newest).to_contain_text(title)
    # No model recommends it any more, as the JSON API agrees.
    for model in MODELS:
        expect(column(page, model).locator(f'li[data-movie-id="{movie_id}"]')).to_have_count(0)
        api = server.get(f"/users/1/recommendations?model={model}").json()
        assert int(movie_id) not in [m["id"] for m in api["movies"]]
    shot(page, "user-after-like")

    # The movie page, from the history's link.
    newest.get_by_role("link", name=title).click()
    expect(page).to_have_url(re.compile(rf"/ui/movies/{movie_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    movie = server.get(f"/movies/{movie_id}").json()
    expect(page.locator("dl.facts")).to_contain_text(", ".join(movie["genres"]))
    count = page.locator('[data-count="ratings"]').inner_text()
    assert int(count.replace(",", "")) > 0
    # Similar movies from the two models that compare movies; popularity does not.
    columns = page.locator("section.column")
    expect(columns).to_have_count(2)
    for model in ("als", "item_knn"):
        similar = page.locator(f'section.column[data-model="{model}"] ol.recs > li')
        expect(similar).to_have_count(10)
        api = server.get(f"/movies/{movie_id}/similar?model={model}").json()
        assert [int(i) for i in similar.evaluate_all("l => l.map(e => e.dataset.movieId)")] == [
            m["id"] for m in api["movies"]
        ]
    shot(page, "movie")

    # Entered once: another user's page in the same tab has the token already.
    page.goto("/ui/users/2")
    expect(page.get_by_label("Write token")).to_have_value(TOKEN)
    no_js_errors(page)


def test_dislike_a_recommendation_and_see_it_leave(browser: Browser, server: httpx.Client) -> None:
    page = new_page(browser, server)
    page.goto("/ui/users/5")
    page.get_by_label("Write token").fill(TOKEN)
    page.get_by_role("button", name="Keep for this tab").click()
    first = rows(page, "item_knn").first
    movie_id = first.get_attribute("data-movie-id")
    title = first.locator(".title a").inner_text()
    assert movie_id is not None
    first.get_by_role("button", name="dislike", exact=True).click()

    expect(page.locator("#feedback-status")).to_contain_text(f"Recorded dislike for {title}")
    # Gone from every column at once, which are still top 10s; the history shows the dislike.
    for model in MODELS:
        expect(column(page, model).locator(f'li[data-movie-id="{movie_id}"]')).to_have_count(0)
        expect(rows(page, model)).to_have_count(10)
    newest = page.locator("#history tbody tr").first
    expect(newest).to_have_attribute("data-movie-id", movie_id)
    expect(newest).to_have_attribute("data-kind", "dislike")
    api = server.get("/users/5/recommendations?model=item_knn").json()
    assert int(movie_id) not in [m["id"] for m in api["movies"]]
    shot(page, "user-after-dislike")
    no_js_errors(page)


def test_models_page_shows_versions_metrics_and_plots(
    browser: Browser, server: httpx.Client, store_dir: Path
) -> None:
    page = new_page(browser, server)
    page.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="Models").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Models")
    for model in MODELS:
        section = page.locator(f'section.model[data-model="{model}"]')
        latest = (store_dir / model / "LATEST").read_text().strip()
        expect(section.locator("[data-serving]")).to_have_text(latest)
        expect(section.locator(f'tr[data-version="{latest}"] .latest')).to_have_text("LATEST")
        expect(section.locator("dl.facts")).to_contain_text("943 users × 1,682 movies")
    # The latest ml-100k evaluation report of the repository, with its numbers and plots.
    folder = page.locator("#report-heading + p code").nth(1).inner_text()
    results = json.loads((REPORTS / folder / "results.json").read_text())
    assert results["dataset"] == "ml-100k"
    hr = results["models"]["als"]["metrics"]["hr"]["mean"]
    expect(page.locator('table.metrics tr[data-model="als"]')).to_contain_text(f"{hr:.4f}")
    images = page.locator("section.report figure img")
    expect(images).to_have_count(len(list((REPORTS / folder).glob("*.png"))))
    for image in images.all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0
    shot(page, "models")
    no_js_errors(page)


def test_a_wrong_token_is_refused_and_nothing_changes(
    browser: Browser, server: httpx.Client
) -> None:
    page = new_page(browser, server)
    page.goto("/ui/users/2")
    first = rows(page, "item_knn").first
    movie_id = first.get_attribute("data-movie-id")
    # No token yet: the page asks for it and puts the cursor there.
    first.get_by_role("button", name="watch").click()
    expect(page.locator("#feedback-status")).to_contain_text("Enter the write token first")
    expect(page.get_by_label("Write token")).to_be_focused()

    page.get_by_label("Write token").fill("not-the-token")
    page.get_by_role("button", name="Keep for this tab").click()
    first.get_by_role("button", name="watch").click()
    expect(page.locator("#feedback-status")).to_have_text("not recorded (403): wrong bearer token")
    expect(column(page, "item_knn").locator(f'li[data-movie-id="{movie_id}"]')).to_have_count(1)
    expect(first.get_by_role("button", name="watch")).to_be_enabled()
    shot(page, "user-wrong-token")


def test_a_phone_width_screen_has_no_sideways_scroll(
    browser: Browser, server: httpx.Client
) -> None:
    page = new_page(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True)
    for path, name in (("/", "home-phone"), ("/ui/users/1", "user-phone"), ("/ui/models", None)):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(WIDER_THAN_SCREEN)
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px: {wide}"
        if name:
            shot(page, name)
    no_js_errors(page)


def test_reading_works_without_javascript(browser: Browser, server: httpx.Client) -> None:
    page = new_page(browser, server, java_script_enabled=False)
    page.goto("/")
    page.get_by_label("User id").fill("5")
    page.get_by_label("User id").press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/users/5$"))
    for model in MODELS:
        expect(rows(page, model)).to_have_count(10)
    expect(page.locator("#token-form")).to_be_hidden()
    page.get_by_role("link", name="Random user").first.click()
    expect(page).to_have_url(re.compile(r"/ui/users/\d+$"))
    expect(page.locator("#history")).to_be_visible()


def test_the_keyboard_reaches_the_user_form(browser: Browser, server: httpx.Client) -> None:
    page = new_page(browser, server)
    page.goto("/")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "user-id":
            break
    else:
        pytest.fail("Tab never reached the user id field")
    page.keyboard.type("7")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/users/7$"))


def test_an_unknown_user_is_a_readable_page(browser: Browser, server: httpx.Client) -> None:
    page = new_page(browser, server)
    api = server.get("/users/999999/recommendations")
    assert api.status_code == 404
    response = page.goto("/ui/users/999999")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text(api.json()["detail"])
    shot(page, "error")


def test_serve_banner_prints_the_page_url(server: httpx.Client, serve_log: Path) -> None:
    home = str(server.base_url).rstrip("/") + "/"
    assert f"Web pages:      {home}\n" in serve_log.read_text()


@pytest.mark.parametrize("javascript", [True, False])
def test_the_filter_form_narrows_every_column(
    browser: Browser, server: httpx.Client, javascript: bool
) -> None:
    page = new_page(browser, server, java_script_enabled=javascript)
    page.goto("/ui/users/5")
    page.get_by_label("Any of these genres").select_option(["Comedy", "Romance"])
    page.get_by_label("None of these genres").select_option(["Drama"])
    page.get_by_label("From year").fill("1990")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/ui/users/5\?.*genres=Comedy&genres=Romance"))
    query = "genres=Comedy,Romance&exclude_genres=Drama&year_min=1990"
    for model in MODELS:
        api = server.get(f"/users/5/recommendations?k=10&model={model}&{query}").json()
        assert len(api["movies"]) == 10 and api["eligible"] > 10
        for movie in api["movies"]:
            assert set(movie["genres"]) & {"Comedy", "Romance"}
            assert "Drama" not in movie["genres"] and movie["year"] >= 1990
        shown = rows(page, model)
        expect(shown).to_have_count(10)
        assert [int(i) for i in shown.evaluate_all("l => l.map(e => e.dataset.movieId)")] == [
            m["id"] for m in api["movies"]
        ]
        expect(column(page, model).locator(".eligible")).to_have_text(
            f"{api['eligible']} movies match the filters"
        )
    # The form shows what was asked for; Clear goes back to the unfiltered page.
    expect(page.get_by_label("From year")).to_have_value("1990")
    if javascript:
        shot(page, "user-filtered")
        no_js_errors(page)
    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/ui/users/5$"))
    expect(column(page, "als").locator(".eligible")).to_have_count(0)
