"""PostgreSQL binary COPY of ratings rows, encoded and decoded with numpy (no row objects).

Every rating field is fixed-width and non-null (int4 user_id, int4 movie_id, float4 rating,
timestamptz rated_at), so a row is one fixed 38-byte big-endian struct: the seed writes 1M rows
and the training export reads them back without creating a Python object per row.
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
