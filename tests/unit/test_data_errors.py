"""Bad input is refused with the file's name and the 1-based line at fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from recsys.data import DatasetError, load_dataset

WriteLines = Callable[..., Path]


def error_of(folder: Path) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        load_dataset(folder)
    return caught.value


def assert_at(error: DatasetError, path: Path, line: int, fragment: str) -> None:
    assert error.path == path
    assert error.line == line
    assert str(error).startswith(f"{path}:{line}: ")
    assert fragment in str(error)


def test_unparsable_number_100k(ml100k_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml100k_dir / "u.data",
        ["1\t10\t5\t881250949", "1\t20\t3\t881250950", "2\tten\t4\t881250951"],
    )
    assert_at(error_of(ml100k_dir), path, 3, "unparsable number 'ten' in field 2 (movie_id)")


def test_unparsable_rating_csv_counts_the_header_line(
    csv_dir: Path, write_lines: WriteLines
) -> None:
    path = write_lines(
        csv_dir / "ratings.csv",
        ["userId,movieId,rating,timestamp", "1,10,5.0,881250949", "1,20,three,881250950"],
    )
    assert_at(error_of(csv_dir), path, 3, "unparsable number 'three' in field 3 (rating)")


def test_unparsable_number_1m_dat(ml1m_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(ml1m_dir / "ratings.dat", ["1::10::5::881250949", "1::2O::3::881250950"])
    assert_at(error_of(ml1m_dir), path, 2, "unparsable number '2O'")


def test_unparsable_timestamp_recbole(recbole_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        recbole_dir / "ml-100k.inter",
        [
            "user_id:token\titem_id:token\trating:float\ttimestamp:float",
            "1\t10\t5\t881250949",
            "1\t20\t3\tsoon",
        ],
    )
    assert_at(error_of(recbole_dir), path, 3, "unparsable number 'soon' in field 4 (timestamp)")


def test_too_many_columns(ml100k_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml100k_dir / "u.data",
        ["1\t10\t5\t881250949", "1\t20\t3\t881250950\t7", "2\t10\t4\t881250951"],
    )
    assert_at(error_of(ml100k_dir), path, 2, "wrong column count: expected 4 fields")


def test_too_few_columns_on_the_first_line(csv_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        csv_dir / "ratings.csv",
        ["userId,movieId,rating,timestamp", "1,10,881250949", "1,20,3.0,881250950"],
    )
    assert_at(error_of(csv_dir), path, 2, "expected 4 fields separated by ',', found 3")


def test_too_few_columns_later(ml1m_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml1m_dir / "ratings.dat",
        ["1::10::5::881250949", "1::20::3::881250950", "2::10::881250951"],
    )
    assert_at(error_of(ml1m_dir), path, 3, "found 3")


@pytest.mark.parametrize(("short", "found"), [("20", 1), ("20,Jumanji (1995)", 2)])
def test_movie_line_cut_short_csv(
    csv_dir: Path, write_lines: WriteLines, short: str, found: int
) -> None:
    # pandas pads a short line with empty fields; the title and genres must not come out empty.
    movies = (csv_dir / "movies.csv").read_text().splitlines()
    path = write_lines(csv_dir / "movies.csv", [*movies[:2], short, *movies[3:]])
    assert_at(error_of(csv_dir), path, 3, f"expected 3 fields separated by ',', found {found}")


def test_movie_line_cut_short_dat(ml1m_dir: Path, write_lines: WriteLines) -> None:
    movies = (ml1m_dir / "movies.dat").read_text(encoding="latin-1").splitlines()
    path = write_lines(ml1m_dir / "movies.dat", [movies[0], "20::Jumanji (1995)", *movies[2:]])
    assert_at(error_of(ml1m_dir), path, 2, "found 2")


def test_blank_line_in_the_middle(ml100k_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(ml100k_dir / "u.data", ["1\t10\t5\t881250949", "", "1\t20\t3\t881250950"])
    assert_at(error_of(ml100k_dir), path, 2, "empty line")


def test_rating_for_unknown_movie(ml100k_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml100k_dir / "u.data",
        ["1\t10\t5\t881250949", "1\t20\t3\t881250950", "2\t10\t4\t881250951", "3\t99\t1\t8812"],
    )
    assert_at(error_of(ml100k_dir), path, 4, "rating for unknown movie 99 (not in u.item)")


def test_rating_for_unknown_user(recbole_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        recbole_dir / "ml-100k.inter",
        [
            "user_id:token\titem_id:token\trating:float\ttimestamp:float",
            "1\t10\t5\t881250949",
            "7\t20\t3\t881250950",
        ],
    )
    assert_at(error_of(recbole_dir), path, 3, "rating for unknown user 7 (not in ml-100k.user)")


def test_duplicate_user_movie_pair(csv_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        csv_dir / "ratings.csv",
        [
            "userId,movieId,rating,timestamp",
            "1,10,5.0,881250949",
            "1,20,3.0,881250950",
            "2,10,4.0,881250951",
            "1,10,2.5,881250952",
        ],
    )
    assert_at(
        error_of(csv_dir), path, 5, "duplicate rating of movie 10 by user 1 (first at line 2)"
    )


@pytest.mark.parametrize("repeat_at", [3, 5])
def test_duplicate_pair_in_a_file_sorted_by_user_and_movie(
    csv_dir: Path, write_lines: WriteLines, repeat_at: int
) -> None:
    # Sorted files (the GroupLens CSVs) take the linear check; the answer is the same.
    rows = ["1,10,5.0,881250949", "1,20,3.0,881250950", "2,10,4.0,881250951", "2,30,1.0,88125"]
    first = rows[repeat_at - 3]
    path = write_lines(
        csv_dir / "ratings.csv",
        ["userId,movieId,rating,timestamp", *rows[: repeat_at - 2], first, *rows[repeat_at - 2 :]],
    )
    user, movie = first.split(",")[:2]
    assert_at(
        error_of(csv_dir),
        path,
        repeat_at,
        f"duplicate rating of movie {movie} by user {user} (first at line {repeat_at - 1})",
    )


def test_duplicate_movie_id(csv_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        csv_dir / "movies.csv",
        [
            "movieId,title,genres",
            "10,Toy Story (1995),Comedy",
            "20,Heat (1995),Action",
            "10,X,Drama",
        ],
    )
    assert_at(error_of(csv_dir), path, 4, "duplicate movie id 10 (first at line 2)")


def test_duplicate_user_id(ml1m_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml1m_dir / "users.dat",
        ["1::M::25::17::85711", "2::F::50::0::94043", "3::M::18::20::03067", "2::F::1::1::1"],
        encoding="latin-1",
    )
    assert_at(error_of(ml1m_dir), path, 4, "duplicate user id 2 (first at line 2)")


@pytest.mark.parametrize("stars", ["7", "0", "-1", "5.5"])
def test_rating_outside_the_scale(ml100k_dir: Path, stars: str, write_lines: WriteLines) -> None:
    path = write_lines(ml100k_dir / "u.data", ["1\t10\t5\t881250949", f"1\t20\t{stars}\t881250950"])
    assert_at(error_of(ml100k_dir), path, 2, "outside 0.5..5")


def test_nan_rating(ml100k_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(ml100k_dir / "u.data", ["1\t10\t5\t881250949", "1\t20\tnan\t881250950"])
    assert_at(error_of(ml100k_dir), path, 2, "not a finite number 'nan' in field 3 (rating)")


def test_wrong_csv_header(csv_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(csv_dir / "ratings.csv", ["user,movie,rating,ts", "1,10,5.0,881250949"])
    assert_at(error_of(csv_dir), path, 1, "expected 'userId,movieId,rating,timestamp'")


def test_recbole_header_without_a_required_column(
    recbole_dir: Path, write_lines: WriteLines
) -> None:
    path = write_lines(
        recbole_dir / "ml-100k.inter",
        ["user_id:token\titem_id:token\ttimestamp:float", "1\t10\t881250949"],
    )
    assert_at(error_of(recbole_dir), path, 1, "header has no 'rating' column")


def test_unknown_ml1m_occupation_code(ml1m_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(
        ml1m_dir / "users.dat",
        ["1::M::25::17::85711", "2::F::50::21::94043", "3::M::18::20::03067"],
        encoding="latin-1",
    )
    assert_at(error_of(ml1m_dir), path, 2, "occupation code 21 outside 0..20")


def test_missing_companion_file(ml100k_dir: Path) -> None:
    (ml100k_dir / "u.item").unlink()
    error = error_of(ml100k_dir)
    assert error.path == ml100k_dir / "u.item" and "missing file" in str(error)


def test_invalid_utf8_in_a_csv_file(csv_dir: Path) -> None:
    path = csv_dir / "movies.csv"
    path.write_bytes(b"movieId,title,genres\n10,Toy Story (1995),Comedy\n20,Mis\xe9rables,Drama\n")
    error = error_of(csv_dir)
    assert error.path == path and "utf-8" in str(error)


def test_trailing_blank_lines_are_accepted(ml1m_dir: Path, csv_dir: Path) -> None:
    for path in (ml1m_dir / "ratings.dat", csv_dir / "ratings.csv"):
        path.write_bytes(path.read_bytes() + b"\n\n")
    assert len(load_dataset(ml1m_dir).ratings) == 4
    assert len(load_dataset(csv_dir).ratings) == 4


def test_blank_line_before_trailing_ones_is_still_an_error(
    ml100k_dir: Path, write_lines: WriteLines
) -> None:
    path = write_lines(ml100k_dir / "u.data", ["1\t10\t5\t881250949", "", "1\t20\t3\t8812", "", ""])
    assert_at(error_of(ml100k_dir), path, 2, "empty line")


def test_crlf_line_endings_and_a_byte_order_mark(csv_dir: Path) -> None:
    for name in ("ratings.csv", "movies.csv"):
        path = csv_dir / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    dataset = load_dataset(csv_dir)
    assert dataset.ratings["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    assert dataset.movies["title"].tolist()[1] == "American President, The"


def test_tab_in_a_dat_file(ml1m_dir: Path, write_lines: WriteLines) -> None:
    path = write_lines(ml1m_dir / "ratings.dat", ["1::10::5::881250949", "1::20::3\t::881250950"])
    assert_at(error_of(ml1m_dir), path, 2, "tab character")


@pytest.mark.parametrize("seed", range(6))
def test_first_repeated_pair_is_pandas_first_duplicate(seed: int) -> None:
    # The sort-based check against the hash-based one it replaced, sorted and unsorted inputs.
    import numpy as np
    import pandas as pd

    from recsys.data.validate import _first_repeated_pair

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    users = rng.integers(0, 1 + seed * 3, n)
    movies = rng.integers(0, 1 + seed * 40, n)
    for u, m in ((users, movies), (np.sort(users), movies), (users[:1], movies[:1])):
        if seed % 2 and u.shape[0] > 1:
            order = np.lexsort((m, u))
            u, m = u[order], m[order]
        flags = pd.MultiIndex.from_arrays([u, m]).duplicated(keep="first")
        hits = np.flatnonzero(flags)
        assert _first_repeated_pair(u, m) == (int(hits[0]) if hits.size else None)
