"""A user's history as the caller passes it, and the columns and matrices models score from.

The caller passes each user's history (from the database at request time) so that anything
the user has rated is excluded, including ratings added after training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data.frames import Interactions
from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, lookup
from recsys.modeling.sequences import Sequences, build_sequences


@dataclass(frozen=True)
class History:
    """One user's rated movies and raw ratings; the model applies its training weighting.

    ``timestamps`` (unix seconds per movie: the latest rating or event time) matter only to
    sequence-aware models; without them such models take the given order as time order.
    """

    movie_ids: IdArray
    ratings: FloatArray
    timestamps: IdArray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.movie_ids, dtype=np.int64).ravel()
        ratings = np.asarray(self.ratings, dtype=np.float32).ravel()
        if ids.shape != ratings.shape:
            raise ValueError(f"history has {ids.shape[0]} movie ids but {ratings.shape[0]} ratings")
        if not np.all(np.isfinite(ratings)):
            raise ValueError("history ratings must be finite numbers")
        object.__setattr__(self, "movie_ids", ids)
        object.__setattr__(self, "ratings", ratings)
        if self.timestamps is not None:
            times = np.asarray(self.timestamps, dtype=np.int64).ravel()
            if times.shape != ids.shape:
                raise ValueError(
                    f"history has {ids.shape[0]} movie ids but {times.shape[0]} timestamps"
                )
            object.__setattr__(self, "timestamps", times)

    @classmethod
    def of(
        cls,
        movie_ids: npt.ArrayLike,
        ratings: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
    ) -> History:
        """History from movie ids, ratings (default 1.0) and optional unix-second timestamps."""
        ids = np.asarray(movie_ids, dtype=np.int64).ravel()
        values = np.ones(ids.shape, np.float32) if ratings is None else np.asarray(ratings)
        times = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        return cls(ids, cast(FloatArray, values), times)

    @classmethod
    def empty(cls) -> History:
        """A user who has rated nothing."""
        return cls.of(np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.movie_ids.shape[0])


Histories = Sequence[History] | Interactions


@dataclass(frozen=True)
class HistoryColumns:
    """Every history entry of a batch as columns: output row, movie, rating, time, tie-break."""

    rows: IndexArray
    movies: IdArray
    ratings: FloatArray
    times: IdArray
    tiebreak: IdArray


def history_columns(users: IdArray, histories: Histories, *, default_time: int) -> HistoryColumns:
    """The entries of each user's history; untimed entries get ``default_time``."""
    if isinstance(histories, Interactions):
        rows, picked = _rows_from_interactions(users, histories)
        movies = np.asarray(histories.movie_ids, dtype=np.int64)[picked]
        return HistoryColumns(
            rows=rows,
            movies=movies,
            ratings=np.asarray(histories.ratings, dtype=np.float32)[picked],
            times=np.asarray(histories.timestamps, dtype=np.int64)[picked],
            tiebreak=movies,
        )
    if len(histories) != users.shape[0]:
        raise ValueError(
            f"got {users.shape[0]} user ids but {len(histories)} histories; "
            "pass one history per user"
        )
    lengths = np.fromiter((len(h) for h in histories), np.int64, len(histories))
    # Untimed histories keep their given order (ties at the default time, broken by position).
    times = [
        h.timestamps if h.timestamps is not None else np.full(len(h), default_time, np.int64)
        for h in histories
    ]
    tiebreak = [
        h.movie_ids if h.timestamps is not None else np.arange(len(h), dtype=np.int64)
        for h in histories
    ]
    empty_ids = np.zeros(0, np.int64)
    return HistoryColumns(
        rows=np.repeat(np.arange(users.shape[0]), lengths).astype(np.intp),
        movies=np.concatenate([h.movie_ids for h in histories] or [empty_ids]),
        ratings=np.concatenate([h.ratings for h in histories] or [np.zeros(0, np.float32)]),
        times=np.concatenate(times or [empty_ids]),
        tiebreak=np.concatenate(tiebreak or [empty_ids]),
    )


def per_user_histories(users: IdArray, histories: Histories) -> list[History]:
    """One ``History`` per user of ``users`` (an ``Interactions`` export split by user)."""
    if not isinstance(histories, Interactions):
        return list(histories)
    rows, picked = _rows_from_interactions(users, histories)
    movies = np.asarray(histories.movie_ids, dtype=np.int64)[picked]
    ratings = np.asarray(histories.ratings, dtype=np.float32)[picked]
    times = np.asarray(histories.timestamps, dtype=np.int64)[picked]
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(users.shape[0] + 1))
    out = []
    for r in range(users.shape[0]):
        at = order[bounds[r] : bounds[r + 1]]
        out.append(History(movies[at], ratings[at], times[at]))
    return out


def history_matrices(
    item_ids: IdArray, n_rows: int, columns: HistoryColumns
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Raw ratings of known movies (to weigh) and a 0/1 "seen" mask over the same cells."""
    rows, movies, ratings = columns.rows, columns.movies, columns.ratings
    cols = lookup(item_ids, movies)
    known = cols >= 0  # unknown movie ids cannot be scored or recommended: ignore them
    shape = (n_rows, item_ids.shape[0])
    raw = sp.csr_matrix(
        (ratings[known].astype(np.float32), (rows[known], cols[known])), shape=shape
    )
    seen = sp.csr_matrix(
        (np.ones(int(known.sum()), np.float32), (rows[known], cols[known])), shape=shape
    )
    return raw, seen


def history_sequences(
    item_ids: IdArray, n_rows: int, columns: HistoryColumns, *, default_time: int
) -> Sequences:
    """Each row's known movies in time order (for ``needs_sequence`` models).

    Disliked movies (weight <= 0) are left out: what follows a movie the user disliked is no
    lead (they stay in the "seen" set, so they are still excluded from the answer).
    """
    keep = columns.ratings > 0
    if not keep.all():
        columns = HistoryColumns(
            rows=columns.rows[keep],
            movies=columns.movies[keep],
            ratings=columns.ratings[keep],
            times=columns.times[keep],
            tiebreak=columns.tiebreak[keep],
        )
    return build_sequences(
        item_ids,
        n_rows=n_rows,
        rows=columns.rows,
        movie_ids=columns.movies,
        ratings=columns.ratings,
        times=columns.times,
        tiebreak=columns.tiebreak,
        default_time=default_time,
    )


def _rows_from_interactions(
    users: IdArray, interactions: Interactions
) -> tuple[IndexArray, npt.NDArray[np.bool_]]:
    # Output row of each wanted interaction, and which interactions are wanted.
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    if sorted_users.shape[0] > 1 and np.any(sorted_users[1:] == sorted_users[:-1]):
        raise ValueError("user ids must be unique when histories come from Interactions")
    pos = lookup(sorted_users, interactions.user_ids)
    wanted = pos >= 0
    rows = order[pos[wanted]].astype(np.intp)
    return rows, wanted


@dataclass(frozen=True)
class HistoryRow:
    """One request's history in the model's item-index space, for the per-request fast path.

    ``seen`` are the columns the answer excludes, sorted and unique: the known movies of the
    history (repeats summed into ``raw``, which follows the history's own columns); a request's
    other exclusions come as the ``allowed`` mask (recsys.modeling.eligibility). ``cols`` /
    ``weights`` are what the training weighting makes of them (a threshold weighting may drop
    some), sorted: the row the model scores from.
    """

    seen: IndexArray
    raw: FloatArray
    cols: IndexArray
    weights: FloatArray


def history_row(item_ids: IdArray, history: History) -> tuple[IndexArray, FloatArray]:
    """(sorted unique columns of the history's known movies, their summed raw ratings)."""
    cols = lookup(item_ids, history.movie_ids)
    known = cols >= 0  # unknown movie ids cannot be scored or recommended: ignore them
    cols, ratings = cols[known], history.ratings[known]
    if cols.shape[0] > 1:
        order = np.argsort(cols, kind="stable")
        cols, ratings = cols[order], ratings[order]
        repeated = cols[1:] == cols[:-1]
        if repeated.any():
            first = np.flatnonzero(np.r_[True, ~repeated])
            # Repeated movies add up, as the batch path's sparse constructor does.
            cols, ratings = cols[first], np.add.reduceat(ratings, first).astype(np.float32)
    return cols, ratings
