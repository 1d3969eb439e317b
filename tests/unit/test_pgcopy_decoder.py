"""The streaming COPY decoder against the one-buffer decoder, on rows split at every boundary."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.db.pgcopy import RatingsDecoder, decode_ratings, encode_ratings


def _wire(n: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    users = rng.integers(-(2**31), 2**31 - 1, n).astype(np.int32)
    movies = rng.integers(1, 70_000, n).astype(np.int32)
    ratings = rng.choice(np.arange(1, 11) / 2, n).astype(np.float32)
    # Microseconds around both epochs, negative (before 1970) and sub-second ones included.
    micros = rng.integers(-(10**15), 2 * 10**15, n)
    return b"".join(bytes(c) for c in encode_ratings(users, movies, ratings, micros, chunk_rows=7))


def _split(data: bytes, sizes: np.ndarray) -> list[bytes]:
    cuts = np.cumsum(sizes)
    cuts = cuts[cuts < len(data)]
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("n", [0, 1, 2, 37, 5_000])
@pytest.mark.parametrize("expected", [0, 1, 10_000])
def test_streamed_decode_equals_the_one_buffer_decode(n: int, expected: int) -> None:
    data = _wire(n, seed=n)
    reference = decode_ratings(data)
    rng = np.random.default_rng(n + expected)
    decoder = RatingsDecoder(expected)
    # Pieces of 1..60 bytes: rows, the header and the trailer all straddle pieces.
    for piece in _split(data, rng.integers(1, 61, len(data))):
        decoder.feed(piece)
    got = decoder.finish()
    for name in ("user_ids", "movie_ids", "ratings", "timestamps"):
        want, have = getattr(reference, name), getattr(got, name)
        assert have.dtype == want.dtype, name
        assert have.flags.c_contiguous and have.flags.owndata, name
        np.testing.assert_array_equal(have, want, err_msg=name)


def test_one_piece_and_growth_past_a_short_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys.db.pgcopy as pgcopy

    # Small blocks, so the 5,000 rows arrive in many decodes and outgrow a 27-row start.
    monkeypatch.setattr(pgcopy, "_BLOCK_BYTES", 500)
    monkeypatch.setattr(pgcopy, "_MIN_CAPACITY", 16)
    data = _wire(5_000, seed=3)
    decoder = RatingsDecoder(10)
    for piece in _split(data, np.full(len(data), 333)):
        decoder.feed(piece)
    got, want = decoder.finish(), decode_ratings(data)
    np.testing.assert_array_equal(got.timestamps, want.timestamps)
    np.testing.assert_array_equal(got.user_ids, want.user_ids)
    whole = RatingsDecoder(5_000)
    whole.feed(data)
    np.testing.assert_array_equal(whole.finish().movie_ids, want.movie_ids)


def test_bad_data_is_refused() -> None:
    data = _wire(3)
    for broken, message in (
        (b"not a copy" + data, "signature"),
        (data[:-2], "layout"),  # no trailer
        (data[:-5] + data[-2:], "layout"),  # a truncated row
        (b"", "no header"),
    ):
        decoder = RatingsDecoder()
        with pytest.raises(ValueError, match=message):
            decoder.feed(broken)
            decoder.finish()
    # A NULL rating (length -1, no value) shifts the row: caught by the layout check.
    row_start = 19
    null_row = bytearray(data)
    null_row[row_start + 18 : row_start + 22] = (-1).to_bytes(4, "big", signed=True)
    decoder = RatingsDecoder()
    decoder.feed(bytes(null_row))
    with pytest.raises(ValueError, match="layout"):
        decoder.finish()
