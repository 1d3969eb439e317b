"""Movie attributes models may read: release year and genres, aligned to movie ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ItemAttributes:
    """Sorted movie ids with a year (NaN when unknown) and a 0/1 genre matrix per movie."""

    movie_ids: npt.NDArray[np.int64]
    years: npt.NDArray[np.float32]
    # (movies, genres) 0/1 float32; column g is genre_names[g].
    genres: npt.NDArray[np.float32]
    genre_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.movie_ids.shape[0]
        if self.years.shape != (n,) or self.genres.shape != (n, len(self.genre_names)):
            raise ValueError(
                f"item attributes: {n} movie ids need {n} years and a ({n}, "
                f"{len(self.genre_names)}) genre matrix, got {self.years.shape} and "
                f"{self.genres.shape}"
            )
        if n > 1 and np.any(self.movie_ids[1:] <= self.movie_ids[:-1]):
            raise ValueError("item attributes: movie ids must be sorted and unique")

    @classmethod
    def from_records(
        cls,
        movie_ids: Sequence[int],
        years: Sequence[int | float | None],
        genres: Sequence[Iterable[str]],
    ) -> ItemAttributes:
        """Build from one (id, year or None, genre names) per movie, in any order."""
        if not len(movie_ids) == len(years) == len(genres):
            raise ValueError(
                f"item attributes: got {len(movie_ids)} ids, {len(years)} years and "
                f"{len(genres)} genre lists; need one of each per movie"
            )
        ids = np.asarray(movie_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        if ids.shape[0] > 1 and np.any(np.diff(ids[order]) == 0):
            raise ValueError("item attributes: a movie id occurs twice")
        genre_lists = [tuple(genres[i]) for i in order]
        names = tuple(sorted({g for gs in genre_lists for g in gs}))
        column = {name: j for j, name in enumerate(names)}
        matrix = np.zeros((ids.shape[0], len(names)), dtype=np.float32)
        for row, gs in enumerate(genre_lists):
            matrix[row, [column[g] for g in gs]] = 1.0
        year_values = np.array(
            [np.nan if years[i] is None else float(years[i]) for i in order], dtype=np.float32
        )
        return cls(ids[order], year_values, matrix, names)

    def aligned(
        self, movie_ids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(years, genres) for ``movie_ids`` (sorted or not); NaN year and no genre if unknown."""
        years = np.full(movie_ids.shape[0], np.nan, dtype=np.float32)
        genres = np.zeros((movie_ids.shape[0], len(self.genre_names)), dtype=np.float32)
        if self.movie_ids.shape[0] == 0:
            return years, genres
        pos = np.minimum(np.searchsorted(self.movie_ids, movie_ids), self.movie_ids.shape[0] - 1)
        found = self.movie_ids[pos] == movie_ids
        years[found] = self.years[pos[found]]
        genres[found] = self.genres[pos[found]]
        return years, genres
