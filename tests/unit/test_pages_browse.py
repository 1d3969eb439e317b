"""What the pages read besides recommendations (recsys.service.browse) and their formatting.

Stored versions from a real local artifact store, evaluation reports from real files: which
one is the latest, what is skipped, which plot paths are refused.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from fastapi import Request

from recsys.api import create_app
from recsys.api.pages.rendering import environment, path_for
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore, save_model, set_latest
from recsys.modeling.dataset import build_matrix
from recsys.modeling.registry import create_model
from recsys.modeling.toy import two_taste_groups
from recsys.service import browse
from recsys.service.recommend import RecommenderService
from recsys.service.registry import LoadedModel, ModelRegistry
from recsys.settings import DEFAULT_EVENT_WEIGHTS, Settings

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def fitted_popularity() -> LoadedModel:
    model = create_model("popularity", {})
    model.fit(build_matrix(two_taste_groups(), weighting="binary"))
    return LoadedModel(model, "v")


def test_overview_lists_versions_newest_first_and_marks_latest(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    model = fitted_popularity().model
    old = save_model(store, model, now=T0)
    new = save_model(store, model, now=T0 + timedelta(hours=1))
    set_latest(store, "popularity", old.version)  # rolled back: LATEST is not the newest
    (tmp_path / "als").mkdir()
    (tmp_path / "als" / "LATEST").write_text("not-a-version\n")
    registry = ModelRegistry(
        configured=("popularity", "als"),
        loaded=MappingProxyType({"popularity": LoadedModel(model, old.version)}),
        missing=MappingProxyType({"als": "no trained 'als' model"}),
    )

    popularity, als = browse.model_overview(registry, f"file://{tmp_path}")

    assert [v.version for v in popularity.versions] == [new.version, old.version]
    assert [v.latest for v in popularity.versions] == [False, True]
    assert popularity.serving == old.version
    assert popularity.serving_version is popularity.versions[1]
    assert (popularity.versions[0].n_users, popularity.versions[0].n_items) == (
        model.n_users,
        model.n_items,
    )
    assert popularity.versions[0].n_interactions == len(two_taste_groups())
    assert popularity.store_error is None
    assert als.serving is None and als.missing == "no trained 'als' model"
    assert als.versions == [] and als.store_error is not None and "LATEST" in als.store_error


def test_overview_of_a_store_that_cannot_open_says_so_per_model() -> None:
    registry = ModelRegistry(
        configured=("als",), loaded=MappingProxyType({}), missing=MappingProxyType({})
    )
    (als,) = browse.model_overview(registry, "ftp://nowhere/x")
    assert als.store_error is not None and "ftp://nowhere/x cannot be opened" in als.store_error


def write_report(root: Path, folder: str, **doc: object) -> Path:
    (root / folder).mkdir(parents=True)
    (root / folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return root / folder


def evaluation(dataset: str, created: str, hr: float) -> dict[str, object]:
    return {
        "dataset": dataset,
        "protocol": "random",
        "k": 5,
        "created_at": created,
        "command": "recsys evaluate",
        "models": {
            "als": {"coverage": 0.5, "metrics": {"hr": {"mean": hr}, "auc": {"mean": 0.75}}},
            "random": {"metrics": {"hr": {"mean": 0.01}}},
        },
    }


def test_latest_report_is_the_newest_evaluation_of_the_dataset(tmp_path: Path) -> None:
    write_report(tmp_path, "a", **evaluation("ml-100k", "2026-01-01T00:00:00+00:00", 0.1))
    newest = write_report(tmp_path, "b", **evaluation("ml-100k", "2026-02-01T00:00:00+00:00", 0.2))
    write_report(tmp_path, "c", **evaluation("ml-1m", "2026-03-01T00:00:00+00:00", 0.3))
    # Not evaluations: a tuning result, and a file that is not JSON.
    write_report(tmp_path, "d", dataset="ml-100k", created_at="2027-01-01", trials=[])
    (write_report(tmp_path, "e") / "results.json").write_text("{", encoding="utf-8")
    (newest / "metrics.png").write_bytes(b"png")
    (newest / "notes.txt").write_text("x")

    report = browse.latest_report(tmp_path, "ml-100k")

    assert report is not None and report.folder == "b" and report.k == 5
    assert report.metrics == {"als": {"hr": 0.2, "auc": 0.75}, "random": {"hr": 0.01}}
    assert report.metric_names == ["hr", "auc"]  # REPORT_METRICS' order
    assert report.coverage == {"als": 0.5}
    assert report.plots == ["metrics.png"]
    assert browse.latest_report(tmp_path, "ml-25m") is None
    assert browse.latest_report(tmp_path / "absent", "ml-100k") is None


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("..", "metrics.png"),
        (".", "metrics.png"),
        ("b", "../b/metrics.png"),
        ("b/..", "metrics.png"),
        ("b", "results.json"),
        ("b", "missing.png"),
        ("b", "metrics.png\0"),
        ("", "metrics.png"),
        ("b", "..\\metrics.png"),
    ],
)
def test_report_plot_refuses_anything_but_a_png_one_folder_deep(
    tmp_path: Path, folder: str, name: str
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.png").write_bytes(b"png")
    (tmp_path / "b" / "results.json").write_text("{}")
    assert browse.report_plot(tmp_path, "b", "metrics.png") == tmp_path / "b" / "metrics.png"
    assert browse.report_plot(tmp_path, folder, name) is None


def test_random_user_is_one_a_loaded_model_knows() -> None:
    loaded = fitted_popularity()
    service = RecommenderService(
        {"popularity": loaded}, weights=EventWeights(DEFAULT_EVENT_WEIGHTS)
    )
    known = set(loaded.model.user_ids.tolist())
    rng = random.Random(7)
    picked = {browse.random_user(service, rng) for _ in range(50)}
    assert picked <= known and len(picked) > 1
    empty = RecommenderService({}, weights=EventWeights(DEFAULT_EVENT_WEIGHTS))
    assert browse.random_user(empty) is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "2026-01-02 03:04 UTC"),
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC).astimezone().isoformat(), "2026-01-02 03:04 UTC"),
        ("2026-01-02T05:04:00+02:00", "2026-01-02 03:04 UTC"),
        ("yesterday", "yesterday"),
        (None, ""),
    ],
)
def test_times_are_shown_in_utc(value: datetime | str | None, shown: str) -> None:
    assert environment.filters["when"](value) == shown


def test_templates_escape_by_default_and_refuse_undefined_names() -> None:
    template = environment.from_string("{{ title }}")
    assert template.render(title="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    with pytest.raises(Exception, match="'nope' is undefined"):
        environment.from_string("{{ nope }}").render()


def test_page_paths_match_starlettes_and_encode_their_values() -> None:
    app = create_app(Settings(models=("popularity",), default_model="popularity"))
    request = Request({"type": "http", "app": app, "root_path": "", "headers": []})
    examples = {"user_page": {"user_id": 7}, "movie_page": {"movie_id": 50}, "home": {}}
    for name, params in examples.items():
        assert path_for(request, name, **params) == app.url_path_for(
            name, **{k: str(v) for k, v in params.items()}
        )
    assert path_for(request, "report_plot", folder="a b", name="x#1.png") == (
        "/ui/reports/a%20b/x%231.png"
    )
    assert path_for(request, "static", path="pages.css") == "/static/pages.css"
    behind = Request({"type": "http", "app": app, "root_path": "/recsys", "headers": []})
    assert path_for(behind, "movie_page", movie_id=1) == "/recsys/ui/movies/1"
