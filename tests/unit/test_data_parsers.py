"""Every layout parses into the canonical frames with the dtypes and values frames.py promises."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.data import Dataset, DatasetError, DatasetNotFoundError, Layout, load_dataset
from recsys.data.loader import detect_layout

REAL_ML100K = Path(__file__).resolve().parents[2] / "data" / "ml-100k"

DTYPES = {
    "users": {
        "id": "int64",
        "gender": "string",
        "age": "Int64",
        "occupation": "string",
        "zip_code": "string",
    },
    "movies": {"id": "int64", "title": "string", "year": "Int64", "genres": "object"},
    "ratings": {
        "user_id": "int64",
        "movie_id": "int64",
        "rating": "float32",
        "rated_at": "datetime64[ns, UTC]",
    },
}


def assert_canonical(dataset: Dataset) -> None:
    """Column names, order and dtypes exactly as frames.py documents them."""
    for frame, expected in DTYPES.items():
        actual = getattr(dataset, frame).dtypes.astype(str).to_dict()
        assert actual == expected, frame


def assert_same_ratings(dataset: Dataset, expected: list[tuple[int, int, int, int]]) -> None:
    ratings = dataset.ratings
    assert ratings["user_id"].tolist() == [r[0] for r in expected]
    assert ratings["movie_id"].tolist() == [r[1] for r in expected]
    assert ratings["rating"].tolist() == [float(r[2]) for r in expected]
    assert ratings["rated_at"].iloc[0] == pd.Timestamp("1997-12-04 15:55:49", tz="UTC")
    assert (ratings["rated_at"].astype("int64") // 10**9).tolist() == [r[3] for r in expected]


def movie(dataset: Dataset, movie_id: int) -> dict[str, object]:
    row = dataset.movies.set_index("id").loc[movie_id]
    return {"title": row["title"], "year": row["year"], "genres": row["genres"]}


def test_ml100k_layout(ml100k_dir: Path, fixture_ratings: list[tuple[int, int, int, int]]) -> None:
    dataset = load_dataset(ml100k_dir)
    assert detect_layout(ml100k_dir) is Layout.ML100K
    assert dataset.name == "ml-100k"
    assert_canonical(dataset)
    assert_same_ratings(dataset, fixture_ratings)
    assert movie(dataset, 10) == {
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Animation", "Children's", "Comedy"],
    }
    assert movie(dataset, 20)["title"] == "Misérables, Les"
    unknown = movie(dataset, 30)
    assert unknown["title"] == "unknown" and unknown["year"] is pd.NA and unknown["genres"] == []
    users = dataset.users.set_index("id")
    assert users.loc[3, "zip_code"] == "03067"  # a zip code is text: the leading zero stays
    assert list(users.loc[2]) == ["F", 53, "other", "94043"]
    assert dataset.sources["ratings"].path == ml100k_dir / "u.data"


def test_ml1m_layout_latin1(
    ml1m_dir: Path, fixture_ratings: list[tuple[int, int, int, int]]
) -> None:
    dataset = load_dataset(ml1m_dir, name="one-million")
    assert dataset.name == "one-million"
    assert_canonical(dataset)
    assert_same_ratings(dataset, fixture_ratings)
    assert movie(dataset, 20) == {"title": "Misérables, Les", "year": 1995, "genres": ["Drama"]}
    babylon = movie(dataset, 30)
    assert babylon["title"] == "Babylon 5" and babylon["year"] is pd.NA and babylon["genres"] == []
    users = dataset.users.set_index("id")
    # ML-1M codes occupations: 17 is technician/engineer, 0 other, 20 writer.
    assert users["occupation"].tolist() == ["technician/engineer", "other", "writer"]
    assert users["age"].tolist() == [25, 50, 18]


def test_ml10m_without_users_dat_derives_users(ml1m_dir: Path) -> None:
    (ml1m_dir / "users.dat").unlink()
    dataset = load_dataset(ml1m_dir)
    assert dataset.users["id"].tolist() == [1, 2, 3]
    assert dataset.users["gender"].isna().all()


def test_csv_family_quoted_title_and_derived_users(
    csv_dir: Path, fixture_ratings: list[tuple[int, int, int, int]]
) -> None:
    dataset = load_dataset(csv_dir)
    assert detect_layout(csv_dir) is Layout.CSV
    assert_canonical(dataset)
    assert_same_ratings(dataset, fixture_ratings)
    assert movie(dataset, 20) == {
        "title": "American President, The",
        "year": 1995,
        "genres": ["Drama"],
    }
    assert movie(dataset, 30)["genres"] == []
    assert dataset.users["id"].tolist() == [1, 2, 3]
    assert dataset.users[["gender", "age", "occupation", "zip_code"]].isna().all().all()
    assert "users" not in dataset.sources
    assert dataset.sources["ratings"].first_line == 2


def test_recbole_layout(
    recbole_dir: Path, fixture_ratings: list[tuple[int, int, int, int]]
) -> None:
    dataset = load_dataset(recbole_dir)
    assert detect_layout(recbole_dir) is Layout.RECBOLE
    assert_canonical(dataset)
    assert_same_ratings(dataset, fixture_ratings)
    assert movie(dataset, 10)["genres"] == ["Animation", "Children's", "Comedy"]
    # RecBole left "(1995)" in this title and put junk in release_year: the title's year wins.
    assert movie(dataset, 20) == {"title": "Misérables, Les", "year": 1995, "genres": ["Drama"]}
    assert movie(dataset, 30)["year"] is pd.NA
    assert list(dataset.users.set_index("id").loc[1]) == ["M", 24, "technician", "85711"]


def test_nested_folder_as_zips_unpack(ml100k_dir: Path, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    ml100k_dir.rename(outer / "ml-100k")
    assert len(load_dataset(outer).ratings) == 4


def test_missing_folder_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"recsys data fetch ml-1m"):
        load_dataset(tmp_path / "ml-1m")


def test_empty_folder_names_the_fetch_command(tmp_path: Path) -> None:
    (tmp_path / "ml-25m").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"is empty.*recsys data fetch ml-25m"):
        load_dataset(tmp_path / "ml-25m")


def test_folder_without_a_known_layout(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"no dataset here: expected u.data"):
        load_dataset(tmp_path / "junk")


@pytest.mark.realdata
def test_real_ml100k() -> None:
    if not REAL_ML100K.is_dir():
        pytest.skip(f"{REAL_ML100K} absent: run `make data` (recsys data fetch ml-100k)")
    dataset = load_dataset(REAL_ML100K)
    assert (len(dataset.ratings), len(dataset.users), len(dataset.movies)) == (100_000, 943, 1_682)
    assert_canonical(dataset)
    toy_story = movie(dataset, 1)
    assert toy_story["title"] == "Toy Story" and toy_story["year"] == 1995
    assert dataset.ratings["rating"].between(1, 5).all()
