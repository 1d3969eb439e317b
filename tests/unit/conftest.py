"""Tiny dataset folders in every layout recsys.data reads, written by the tests themselves.

Each layout holds the same content (3 users, 3 movies, 4 ratings), so one set of expected values
checks every parser:

- user 1 rated movie 10 (5 stars) and movie 20 (3 stars); user 2 rated movie 10 (4 stars);
  user 3 rated movie 30 (1 star); timestamps 881250949 + 0..3 in that order.
- movie 10 "Toy Story" (1995) [Animation, Children's, Comedy]; movie 20 "Misérables, Les" (1995)
  [Drama] (a non-ASCII title; in the CSV layout "American President, The" needs quoting);
  movie 30 has no genre and, in 100K, no year ("unknown").
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

RATINGS = [
    (1, 10, 5, 881250949),
    (1, 20, 3, 881250950),
    (2, 10, 4, 881250951),
    (3, 30, 1, 881250952),
]


@pytest.fixture
def fixture_ratings() -> list[tuple[int, int, int, int]]:
    """The (user, movie, stars, epoch seconds) rows every fixture layout holds, in file order."""
    return list(RATINGS)


WriteLines = Callable[..., Path]


def write_lines(path: Path, lines: list[str], *, encoding: str = "utf-8") -> Path:
    """Write ``lines`` (newline-terminated) to ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


@pytest.fixture(name="write_lines")
def write_lines_fixture() -> WriteLines:
    """``write_lines(path, lines, encoding=...)`` for tests that rewrite a fixture file."""
    return write_lines


def _flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


@pytest.fixture
def ml100k_dir(tmp_path: Path) -> Path:
    """GroupLens 100K layout: u.data (tab), u.item and u.user (pipe, latin-1)."""
    folder = tmp_path / "ml-100k"
    write_lines(folder / "u.data", ["\t".join(map(str, r)) for r in RATINGS])
    write_lines(
        folder / "u.item",
        [
            f"10|Toy Story (1995)|01-Jan-1995||http://example.com/1|{_flags(3, 4, 5)}",
            f"20|Misérables, Les (1995)|01-Jan-1995||http://example.com/2|{_flags(8)}",
            f"30|unknown|||http://example.com/3|{_flags(0)}",
        ],
        encoding="latin-1",
    )
    write_lines(
        folder / "u.user",
        ["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|03067"],
        encoding="latin-1",
    )
    return folder


@pytest.fixture
def ml1m_dir(tmp_path: Path) -> Path:
    """GroupLens 1M layout: '::'-separated .dat files in latin-1."""
    folder = tmp_path / "ml-1m"
    write_lines(folder / "ratings.dat", ["::".join(map(str, r)) for r in RATINGS])
    write_lines(
        folder / "movies.dat",
        [
            "10::Toy Story (1995)::Animation|Children's|Comedy",
            "20::Misérables, Les (1995)::Drama",
            "30::Babylon 5::(no genres listed)",
        ],
        encoding="latin-1",
    )
    write_lines(
        folder / "users.dat",
        ["1::M::25::17::85711", "2::F::50::0::94043", "3::M::18::20::03067"],
        encoding="latin-1",
    )
    return folder


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    """MovieLens CSV family: ratings.csv + movies.csv (utf-8, quoted titles), no users.csv."""
    folder = tmp_path / "ml-latest-small"
    write_lines(
        folder / "ratings.csv",
        ["userId,movieId,rating,timestamp", *(",".join(map(str, r)) for r in RATINGS)],
    )
    write_lines(
        folder / "movies.csv",
        [
            "movieId,title,genres",
            "10,Toy Story (1995),Animation|Children's|Comedy",
            '20,"American President, The (1995)",Drama',
            "30,Hyena Road,(no genres listed)",
        ],
    )
    return folder


@pytest.fixture
def recbole_dir(tmp_path: Path) -> Path:
    """RecBole atomic files with typed headers, as the RecBole wheel ships ML-100K."""
    folder = tmp_path / "rb"
    write_lines(
        folder / "ml-100k.inter",
        [
            "user_id:token\titem_id:token\trating:float\ttimestamp:float",
            *("\t".join(map(str, r)) for r in RATINGS),
        ],
    )
    write_lines(
        folder / "ml-100k.item",
        [
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
            "10\tToy Story\t1995\tAnimation Children's Comedy",
            "20\tMisérables, Les (1995)\tV\tDrama",
            "30\tunkonwn\tunkonwn\tunknown",
        ],
    )
    write_lines(
        folder / "ml-100k.user",
        [
            "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token",
            "1\t24\tM\ttechnician\t85711",
            "2\t53\tF\tother\t94043",
            "3\t23\tM\twriter\t03067",
        ],
    )
    return folder


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """Zip a folder's files under ``prefix`` (as GroupLens zips hold one top-level folder)."""

    def build(folder: Path, *, name: str, prefix: str = "") -> Path:
        archive = tmp_path / "zips" / name
        archive.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(folder.iterdir()):
                zipped.write(path, prefix + path.name)
        return archive

    return build
