"""The tiny dataset's known answers, a CSV-layout writer, and where the real data lives."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """Where real datasets are fetched to: ``RECSYS_DATA_DIR``, else the checkout's data/."""
    return Path(os.environ.get("RECSYS_DATA_DIR", REPO_ROOT / "data"))


@dataclass(frozen=True)
class TinyRating:
    user_id: int
    movie_id: int
    rating: float
    timestamp: int


@dataclass(frozen=True)
class TinyMovie:
    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]


@dataclass(frozen=True)
class TinyDataset:
    """The known answers of the tiny dataset (name ``tiny`` under ``data_dir``)."""

    data_dir: Path
    name: str
    movies: tuple[TinyMovie, ...]
    ratings: tuple[TinyRating, ...]

    @property
    def path(self) -> Path:
        return self.data_dir / self.name

    @property
    def user_ids(self) -> list[int]:
        return sorted({r.user_id for r in self.ratings})


TINY_MOVIES = (
    TinyMovie(1, "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
    TinyMovie(2, "Jumanji", 1995, ("Adventure", "Children's", "Fantasy")),
    TinyMovie(3, "Heat", 1995, ("Action", "Crime", "Thriller")),
    TinyMovie(5, "Father of the Bride Part II", 1995, ("Comedy",)),
    TinyMovie(7, "Sabrina", 1995, ("Comedy", "Romance")),
    # Never rated: still seeded, so a catalogue lookup finds it.
    TinyMovie(11, "American President, The", 1995, ("Comedy", "Drama", "Romance")),
)
# User 1 rated 4 movies at distinct times (history order known); user 2 rated two at the same
# second (tie broken by movie id); user 3 rated one; user 4 rated in 2009.
TINY_RATINGS = (
    TinyRating(1, 1, 4.0, 964982703),
    TinyRating(1, 3, 4.5, 964981247),
    TinyRating(1, 5, 2.0, 964982224),
    TinyRating(1, 7, 5.0, 964983815),
    TinyRating(2, 3, 3.0, 1445714835),
    TinyRating(2, 2, 0.5, 1445714835),
    TinyRating(2, 1, 3.5, 1445714000),
    TinyRating(3, 5, 1.0, 1306463578),
    TinyRating(4, 2, 4.0, 1230000000),
    TinyRating(4, 7, 3.0, 1230000100),
)


def write_csv_dataset(
    folder: Path,
    *,
    ratings: Sequence[str | TinyRating],
    movies: Sequence[str | TinyMovie],
) -> Path:
    """Write a MovieLens CSV-layout dataset (ratings.csv, movies.csv); raw strings pass as-is."""
    folder.mkdir(parents=True, exist_ok=True)
    rating_lines = ["userId,movieId,rating,timestamp"]
    for r in ratings:
        rating_lines.append(
            r if isinstance(r, str) else f"{r.user_id},{r.movie_id},{r.rating},{r.timestamp}"
        )
    movie_lines = ["movieId,title,genres"]
    for m in movies:
        if isinstance(m, str):
            movie_lines.append(m)
        else:
            title = f"{m.title} ({m.year})" if m.year is not None else m.title
            quoted = f'"{title}"' if "," in title else title
            movie_lines.append(f"{m.id},{quoted},{'|'.join(m.genres) or '(no genres listed)'}")
    (folder / "ratings.csv").write_text("\n".join(rating_lines) + "\n", encoding="utf-8")
    (folder / "movies.csv").write_text("\n".join(movie_lines) + "\n", encoding="utf-8")
    return folder


WriteDataset = Callable[..., Path]
