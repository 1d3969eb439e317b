"""A content fingerprint of a set of ratings that does not depend on row order."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from recsys.data.frames import Interactions

# Bump when the hashed layout changes, so old and new fingerprints never compare equal by accident.
_LAYOUT = b"recsys-interactions-v1"
# Rows per hashed (or order-checked) slice: bounds the temporaries at a few MiB at any size.
_CHUNK = 1 << 20


def interactions_fingerprint(interactions: Interactions) -> str:
    """``sha256:<hex>`` of the ratings sorted by (user_id, movie_id): same rows, any order.

    The seed records it and every model manifest carries it, so a model can be traced to the
    exact data it was trained on.

    The digest is that of each column, gathered in (user_id, movie_id) order (ties in row
    order), as little-endian int64 / float32 / int64 bytes. Rows already in that order (what
    the seed writes and a plain scan of its table returns) are hashed as they are, slice by
    slice, without sorting or copying the columns.
    """
    users, movies = interactions.user_ids, interactions.movie_ids
    n = int(np.shape(users)[0])
    order = None if is_sorted_by_pair(users, movies) else pair_order(users, movies)
    digest = hashlib.sha256(_LAYOUT)
    for column, dtype in (
        (users, "<i8"),
        (movies, "<i8"),
        (interactions.ratings, "<f4"),
        (interactions.timestamps, "<i8"),
    ):
        values = np.asarray(column)
        for start in range(0, n, _CHUNK):
            stop = start + _CHUNK
            part = values[start:stop] if order is None else values[order[start:stop]]
            digest.update(np.ascontiguousarray(part, dtype=dtype).data)
    return "sha256:" + digest.hexdigest()


def is_sorted_by_pair(users: npt.ArrayLike, movies: npt.ArrayLike) -> bool:
    """True when the rows are non-decreasing by (user, movie): a stable sort would keep them."""
    u, m = np.asarray(users), np.asarray(movies)
    n = int(u.shape[0])
    for start in range(0, max(n - 1, 0), _CHUNK):
        # Each slice overlaps the next by one row, so every adjacent pair is compared once.
        stop = min(start + _CHUNK + 1, n)
        u0, u1 = u[start : stop - 1], u[start + 1 : stop]
        m0, m1 = m[start : stop - 1], m[start + 1 : stop]
        if not bool(((u1 > u0) | ((u1 == u0) & (m1 >= m0))).all()):
            return False
    return True


def pair_order(users: npt.ArrayLike, movies: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """``np.lexsort((movies, users))``: rows by (user, movie), ties in row order.

    One stable argsort of a packed int64 key when the id ranges allow it (about 4x faster than
    lexsort at 25M rows and half its memory); lexsort otherwise.
    """
    u = np.asarray(users, dtype=np.int64)
    m = np.asarray(movies, dtype=np.int64)
    if u.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    u_low, m_low = int(u.min()), int(m.min())
    u_span = int(u.max()) - u_low + 1
    m_span = int(m.max()) - m_low + 1
    if u_span * m_span >= 2**63:
        return np.lexsort((m, u))
    key = u - u_low
    key *= m_span
    for start in range(0, key.shape[0], _CHUNK):
        # (m - m_low) in slices: no full-size temporary, and no overflow on the way.
        key[start : start + _CHUNK] += m[start : start + _CHUNK] - m_low
    return np.argsort(key, kind="stable")
