"""PostgreSQL binary COPY of ratings rows, encoded and decoded with numpy (no row objects).

Every rating field is fixed-width and non-null (int4 user_id, int4 movie_id, float4 rating,
timestamptz rated_at), so a row is one fixed 38-byte big-endian struct: the seed writes 1M rows
and the training export reads them back without creating a Python object per row.
``RatingsDecoder`` decodes the export as it streams in, straight into the final column arrays,
so reading N rows never holds more than those arrays plus one block of wire data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsys.data.frames import Interactions

# 11-byte signature, int32 flags (0), int32 header-extension length (0).
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = SIGNATURE + bytes(8)
# A field count of -1 ends the data.
_TRAILER = b"\xff\xff"
# PostgreSQL timestamps count microseconds from 2000-01-01 UTC.
PG_EPOCH_S = 946_684_800
# One row: field count, then (byte length, value) per column.
RATING_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("user_len", ">i4"),
        ("user", ">i4"),
        ("movie_len", ">i4"),
        ("movie", ">i4"),
        ("rating_len", ">i4"),
        ("rating", ">f4"),
        ("ts_len", ">i4"),
        ("ts", ">i8"),
    ]
)
_FIXED_FIELDS = (("fields", 4), ("user_len", 4), ("movie_len", 4), ("rating_len", 4), ("ts_len", 8))


def encode_ratings(
    user_ids: npt.NDArray[np.int32],
    movie_ids: npt.NDArray[np.int32],
    ratings: npt.NDArray[np.float32],
    rated_at_us: npt.NDArray[np.int64],
    *,
    chunk_rows: int = 100_000,
) -> list[memoryview]:
    """Binary COPY data for (user_id, movie_id, rating, rated_at in Unix microseconds) rows."""
    rows = np.empty(user_ids.shape[0], dtype=RATING_ROW)
    for field, length in _FIXED_FIELDS:
        rows[field] = length
    rows["user"] = user_ids
    rows["movie"] = movie_ids
    rows["rating"] = ratings
    rows["ts"] = rated_at_us - PG_EPOCH_S * 1_000_000
    # Chunks, not one buffer: a CopyData message is capped at 1 GB (25M rows would be 950 MB),
    # and slicing the array's memory avoids copying it.
    body = rows.data.cast("B")
    step = chunk_rows * RATING_ROW.itemsize
    chunks = [memoryview(_HEADER)]
    chunks += [body[i : i + step] for i in range(0, len(body), step)]
    chunks.append(memoryview(_TRAILER))
    return chunks


def decode_ratings(data: bytes) -> Interactions:
    """Column arrays from a binary COPY of (int4, int4, float4, timestamptz) rows."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not PostgreSQL binary COPY data (bad signature)")
    extension = int.from_bytes(data[15:19], "big")
    start = 19 + extension
    end = len(data) - len(_TRAILER)
    body = memoryview(data)[start:end]
    if len(body) % RATING_ROW.itemsize:
        raise ValueError("unexpected COPY row layout (a NULL or a changed column type?)")
    rows = np.frombuffer(body, dtype=RATING_ROW)
    for field, value in _FIXED_FIELDS:
        if rows.shape[0] and not bool((rows[field] == value).all()):
            raise ValueError(f"unexpected COPY row layout in {field!r}")
    micros = rows["ts"].astype(np.int64)
    return Interactions(
        user_ids=rows["user"].astype(np.int64),
        movie_ids=rows["movie"].astype(np.int64),
        ratings=rows["rating"].astype(np.float32),
        timestamps=np.floor_divide(micros, 1_000_000) + PG_EPOCH_S,
    )


# Wire data decoded per block: big enough that numpy's per-call cost vanishes, small enough to
# be noise next to the columns (about 110,000 rows).
_BLOCK_BYTES = 4 << 20
_HEADROOM = 1.1
_MIN_CAPACITY = 65_536
# Growth when the row-count estimate was short (a stale reltuples): the new tail is zero-filled,
# so a small factor keeps the touched memory close to what the rows need.
_GROWTH = 1.25


class RatingsDecoder:
    """Binary COPY rows of (int4, int4, float4, timestamptz), decoded as they arrive.

    ``feed`` takes the COPY data in pieces of any size (rows may straddle pieces); ``finish``
    returns the columns: int64 ids (what ``build_matrix`` works in, so it copies nothing),
    float32 weights, int64 epoch seconds, 28 bytes a row. The arrays are allocated once for
    ``expected_rows`` (pages nobody writes cost no memory, so an estimate on the high side is
    free), grown in place if it was short, and trimmed at the end.
    """

    def __init__(self, expected_rows: int = 0) -> None:
        # Headroom over the estimate (ANALYZE's row count is a sample's, often a little short):
        # untouched capacity is free, while growing zero-fills and may copy every column.
        capacity = int(expected_rows * _HEADROOM) + _MIN_CAPACITY
        self._users = np.empty(capacity, dtype=np.int64)
        self._movies = np.empty(capacity, dtype=np.int64)
        self._ratings = np.empty(capacity, dtype=np.float32)
        self._times = np.empty(capacity, dtype=np.int64)
        self._rows = 0
        self._pending = bytearray()
        self._header_done = False
        self._finished = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append a piece of COPY data; whole blocks are decoded as soon as they are complete."""
        self._pending += data
        if len(self._pending) >= _BLOCK_BYTES:
            self._decode_pending()

    def finish(self) -> Interactions:
        """The decoded columns; raises ValueError unless the data ended with the COPY trailer."""
        if self._finished:
            raise RuntimeError("RatingsDecoder.finish() called twice")
        self._decode_pending()
        if not self._header_done:
            raise ValueError("not PostgreSQL binary COPY data (no header)")
        if bytes(self._pending) != _TRAILER:
            raise ValueError("unexpected COPY row layout (a NULL or a changed column type?)")
        self._finished = True
        n = self._rows
        # In place: a shrinking realloc, no copy of the rows.
        for array in (self._users, self._movies, self._ratings, self._times):
            array.resize(n, refcheck=False)
        return Interactions(
            user_ids=self._users,
            movie_ids=self._movies,
            ratings=self._ratings,
            timestamps=self._times,
        )

    def _decode_pending(self) -> None:
        pending = self._pending
        if not self._header_done:
            if len(pending) < 19:
                return
            if not pending.startswith(SIGNATURE):
                raise ValueError("not PostgreSQL binary COPY data (bad signature)")
            start = 19 + int.from_bytes(pending[15:19], "big")
            if len(pending) < start:
                return
            del pending[:start]
            self._header_done = True
        count = len(pending) // RATING_ROW.itemsize
        if count == 0:
            return
        size = count * RATING_ROW.itemsize
        rows = np.frombuffer(pending, dtype=RATING_ROW, count=count)
        for field, value in _FIXED_FIELDS:
            if not bool((rows[field] == value).all()):
                raise ValueError(f"unexpected COPY row layout in {field!r}")
        self._reserve(self._rows + count)
        at = slice(self._rows, self._rows + count)
        self._users[at] = rows["user"]
        self._movies[at] = rows["movie"]
        self._ratings[at] = rows["rating"]
        times = self._times[at]
        np.floor_divide(rows["ts"], 1_000_000, out=times)
        times += PG_EPOCH_S
        # Release the buffer export before resizing the bytearray.
        del rows, times
        self._rows += count
        del pending[:size]

    def _reserve(self, rows: int) -> None:
        capacity = self._users.shape[0]
        if rows <= capacity:
            return
        grown = max(rows, int(capacity * _GROWTH) + 1)
        for array in (self._users, self._movies, self._ratings, self._times):
            array.resize(grown, refcheck=False)
