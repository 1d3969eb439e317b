"""Slicing users' time-ordered histories into the ranker's groups: labels, prefixes, subsets.

Pure index arithmetic over ``Sequences`` (no per-user Python loop), and a hash-based uniform
draw that depends only on (user, movie, time), so that deleting other rows never changes which
rows a scattered group holds out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import IndexArray
from recsys.modeling.sequences import Sequences

BoolArray = npt.NDArray[np.bool_]


def label_positions(sequences: Sequences, periods: int) -> tuple[IndexArray, npt.NDArray[np.int64]]:
    """(user row, entry position of the label) for every user and period with a non-empty prefix."""
    lengths = sequences.lengths
    users: list[IndexArray] = []
    labels: list[npt.NDArray[np.int64]] = []
    for p in range(1, periods + 1):
        who = np.flatnonzero(lengths > p).astype(np.intp)
        users.append(who)
        labels.append(sequences.indptr[who + 1] - p)
    user_rows = np.concatenate(users)
    label_pos = np.concatenate(labels)
    order = np.lexsort((label_pos, user_rows))
    return user_rows[order], label_pos[order]


def slice_sequences(
    sequences: Sequences, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> Sequences:
    """Entries starts[g]:ends[g] of ``sequences`` as row g (reference time: the last one)."""
    lengths = ends - starts
    indptr = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    entries = np.repeat(starts - indptr[:-1], lengths) + np.arange(int(indptr[-1]))
    return Sequences(
        indptr=indptr,
        cols=sequences.cols[entries],
        times=sequences.times[entries],
        ratings=sequences.ratings[entries],
        reference_times=sequences.times[ends - 1],
    )


def pick_entries(
    sequences: Sequences, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> Sequences:
    """Entries starts[g]:starts[g] + lengths[g] of ``sequences`` as row g."""
    return slice_sequences(sequences, starts, starts + lengths)


def subset_sequences(sequences: Sequences, keep: BoolArray, rows: IndexArray) -> Sequences:
    """The kept entries of ``rows`` (in order), one output row per input row.

    The reference time is each output row's latest kept time.
    """
    entry_rows = sequences.rows()[keep]
    lengths = np.bincount(entry_rows, minlength=sequences.n_rows)[rows]
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    times = sequences.times[keep]
    reference = np.where(lengths > 0, times[np.maximum(indptr[1:] - 1, 0)], 0)
    return Sequences(
        indptr=indptr,
        cols=sequences.cols[keep],
        times=times,
        ratings=sequences.ratings[keep],
        reference_times=reference.astype(np.int64),
    )


def concat_sequences(parts: list[Sequences]) -> Sequences:
    """The rows of every part, one after another."""
    indptr = [np.zeros(1, dtype=np.int64)]
    offset = 0
    for part in parts:
        indptr.append(part.indptr[1:] + offset)
        offset += int(part.indptr[-1])
    return Sequences(
        indptr=np.concatenate(indptr),
        cols=np.concatenate([p.cols for p in parts]).astype(np.intp),
        times=np.concatenate([p.times for p in parts]),
        ratings=np.concatenate([p.ratings for p in parts]),
        reference_times=np.concatenate([p.reference_times for p in parts]),
    )


def stable_uniform(
    user_ids: npt.NDArray[np.int64],
    movie_ids: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
    *,
    seed: int,
) -> npt.NDArray[np.float64]:
    """A uniform [0, 1) draw per (user, movie, time, seed) that depends on nothing else."""
    mixed = np.zeros(user_ids.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in (np.uint64(seed), user_ids, movie_ids, times):
            mixed = _splitmix64(mixed ^ np.asarray(part).astype(np.uint64))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out
