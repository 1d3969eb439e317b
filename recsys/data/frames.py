"""The canonical in-memory dataset every source returns and every consumer reads.

Frames (pandas), one row per entity, columns and dtypes fixed:

- ``users``:   id:int64, gender:string|NA, age:Int64|NA, occupation:string|NA, zip_code:string|NA
- ``movies``:  id:int64, title:string, year:Int64|NA, genres:object (list[str])
- ``ratings``: user_id:int64, movie_id:int64, rating:float32, rated_at:datetime64[ns, UTC]

Rows keep the order of their source file, so row ``i`` of a frame came from line
``source.first_line + i`` of ``source.path``; that is how errors name a file and a line
without carrying a line column through every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

# pandas only for the annotations: the training job and the API read ``Interactions`` (numpy
# columns) and must not pay pandas' ~1.4 s import for it.
if TYPE_CHECKING:
    import pandas as pd

USER_COLUMNS = ("id", "gender", "age", "occupation", "zip_code")
MOVIE_COLUMNS = ("id", "title", "year", "genres")
RATING_COLUMNS = ("user_id", "movie_id", "rating", "rated_at")


class DatasetError(ValueError):
    """A dataset file is malformed or inconsistent; names the file and line when known."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class DatasetNotFoundError(FileNotFoundError):
    """The configured dataset is not on disk; the message says which command fetches it."""


@dataclass(frozen=True)
class SourceRef:
    """Where a frame's rows came from: row ``i`` is line ``first_line + i`` of ``path``."""

    path: Path
    first_line: int

    def line_of(self, row: int) -> int:
        """1-based line number of frame row ``row``."""
        return self.first_line + row


@dataclass(frozen=True)
class Dataset:
    """Users, movies and ratings of one dataset, plus where each frame was read from."""

    name: str
    users: pd.DataFrame
    movies: pd.DataFrame
    ratings: pd.DataFrame
    sources: dict[str, SourceRef] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, users={len(self.users):,}, movies={len(self.movies):,}, "
            f"ratings={len(self.ratings):,})"
        )


@dataclass(frozen=True)
class Interactions:
    """Column arrays of every rating, as the database exports them for training.

    No per-row Python objects: these go straight into a scipy sparse matrix.
    """

    user_ids: npt.NDArray[np.int64]
    movie_ids: npt.NDArray[np.int64]
    ratings: npt.NDArray[np.float32]
    # Seconds since the Unix epoch, UTC.
    timestamps: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])
