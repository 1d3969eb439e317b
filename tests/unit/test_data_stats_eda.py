"""The EDA helpers and the inspection tables, on a hand-made dataset with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import stats
from recsys.data.frames import Dataset
from recsys.evaluation.inspect import recommendations, similar_movies, user_history
from recsys.evaluation.runner import fit_model
from recsys.evaluation.splits import interactions_from_ratings


def _at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def dataset() -> Dataset:
    # User 1 rated 3 movies, users 2 and 3 one each; movie 10 is rated by everybody.
    ratings = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 3],
            "movie_id": [10, 20, 30, 10, 10],
            "rating": np.array([5.0, 3.0, 4.0, 4.0, 1.0], dtype=np.float32),
            "rated_at": [
                _at("1998-01-05"),
                _at("1998-01-20"),
                _at("1998-02-03"),
                _at("1998-02-10"),
                _at("1998-02-11"),
            ],
        }
    )
    movies = pd.DataFrame(
        {
            "id": [10, 20, 30, 40],
            "title": ["Alpha", "Beta", "Gamma", "Delta"],
            "year": pd.array([1977, 1995, None, 1982], dtype="Int64"),
            "genres": [["Drama", "War"], ["Comedy"], ["Drama"], ["Horror"]],
        }
    )
    users = pd.DataFrame({"id": [1, 2, 3]})
    return Dataset("hand", users=users, movies=movies, ratings=ratings)


def test_counts_per_user_and_movie_largest_first(dataset: Dataset) -> None:
    assert stats.ratings_per_user(dataset.ratings).to_dict() == {1: 3, 2: 1, 3: 1}
    per_movie = stats.ratings_per_movie(dataset.ratings)
    assert per_movie.to_dict() == {10: 3, 20: 1, 30: 1}
    assert per_movie.iloc[0] == 3


def test_long_tail_and_head_share(dataset: Dataset) -> None:
    per_movie = stats.ratings_per_movie(dataset.ratings)
    tail = stats.long_tail(per_movie)
    assert tail["rank"].tolist() == [1, 2, 3]
    assert tail["count"].tolist() == [3, 1, 1]
    np.testing.assert_allclose(tail["cumulative_share"], [0.6, 0.8, 1.0])
    # The top third of 3 movies is one movie: 3 of 5 ratings.
    assert stats.head_share(per_movie, top=1 / 3) == pytest.approx(0.6)
    assert stats.head_share(per_movie, top=1.0) == 1.0
    with pytest.raises(ValueError, match=r"top must be a fraction in \(0, 1\]"):
        stats.head_share(per_movie, top=0.0)


def test_genre_shares_by_month_and_decade(dataset: Dataset) -> None:
    by_month = stats.genre_shares(dataset, by="rated_month")
    # January: Alpha (Drama, War) and Beta (Comedy); February: Gamma (Drama), Alpha twice.
    assert [str(p) for p in by_month.index] == ["1998-01", "1998-02"]
    assert by_month.at[pd.Period("1998-01", "M"), "Drama"] == pytest.approx(0.5)
    assert by_month.at[pd.Period("1998-01", "M"), "Comedy"] == pytest.approx(0.5)
    assert by_month.at[pd.Period("1998-02", "M"), "Drama"] == pytest.approx(1.0)
    assert by_month.at[pd.Period("1998-02", "M"), "War"] == pytest.approx(2 / 3)
    assert by_month.columns[0] == "Drama"  # the most-rated genre comes first
    by_decade = stats.genre_shares(dataset, by="release_decade")
    # Gamma has no year and is left out; Alpha (1970s) 3 ratings, Beta (1990s) 1.
    assert by_decade.index.tolist() == [1970, 1990]
    assert by_decade.loc[1970, "War"] == 1.0 and by_decade.loc[1990, "Comedy"] == 1.0
    with pytest.raises(ValueError, match="by must be rated_month or release_decade"):
        stats.genre_shares(dataset, by="week")  # type: ignore[arg-type]


def test_user_history_latest_first_with_titles(dataset: Dataset) -> None:
    history = user_history(dataset, 1, n=2)
    assert history["title"].tolist() == ["Gamma", "Beta"]
    assert history["genres"].tolist() == ["Drama", "Comedy"]
    assert len(user_history(dataset, 1, n=None)) == 3
    with pytest.raises(ValueError, match="user 9 has no ratings in hand"):
        user_history(dataset, 9)


def test_recommendations_exclude_rated_movies(dataset: Dataset) -> None:
    model, _ = fit_model("popularity", interactions_from_ratings(dataset.ratings))
    top = recommendations(model, dataset, 2, k=5)
    # User 2 rated Alpha; Beta and Gamma (one rating each) remain, Delta was never rated.
    assert set(top["title"]) == {"Beta", "Gamma"}
    assert top["rank"].tolist() == [1, 2]
    cooccurrence, _ = fit_model("cooccurrence", interactions_from_ratings(dataset.ratings))
    similar = similar_movies(cooccurrence, dataset, 20, k=3)
    assert "Beta" not in set(similar["title"]) and set(similar["title"]) <= {"Alpha", "Gamma"}
