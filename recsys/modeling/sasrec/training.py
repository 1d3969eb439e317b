"""Fit the SASRec encoder with torch: full softmax on next-item targets, early stopping.

Each user's training sequence is cut into right-aligned windows of ``max_len`` targets (the
item before each target is its input), so a 700-item history trains 14 windows, not only its
latest 50 items. The loss is a softmax over the whole catalogue at every target position.
Early stopping holds out every (sampled) user's latest training item and scores it as the
evaluation does: full ranking over the items the user has not seen, NDCG@10.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from recsys.modeling.dataset import IndexArray
from recsys.modeling.sasrec.network import Weights
from recsys.modeling.sasrec.params import SASRecParams
from recsys.modeling.sasrec.torch_net import SASRecNet
from recsys.modeling.sequences import Sequences

Int64 = npt.NDArray[np.int64]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fitted:
    """The best epoch's weights and what training did (for the manifest and the report)."""

    weights: Weights
    diagnostics: dict[str, Any]


def fit_network(sequences: Sequences, *, n_items: int, params: SASRecParams) -> Fitted:
    """Train on every row of ``sequences`` (time order); seeded, on ``num_threads`` threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(params.num_threads)
    try:
        return _fit(sequences, n_items=n_items, params=params)
    finally:
        torch.set_num_threads(threads)


def _fit(sequences: Sequences, *, n_items: int, params: SASRecParams) -> Fitted:
    started = time.perf_counter()
    rng = np.random.default_rng(params.random_state)
    torch.manual_seed(params.random_state)
    rows, order = sequences.rows(), _tie_order(sequences, rng, shuffle=params.shuffle_ties)
    held = _validation_entries(sequences, order, rng, share=params.validation_share)
    train = np.setdiff1d(np.arange(sequences.cols.shape[0]), held, assume_unique=True)
    net = SASRecNet(
        n_items=n_items,
        max_len=params.max_len,
        hidden=params.hidden,
        blocks=params.blocks,
        heads=params.heads,
        dropout=params.dropout,
    )
    optimiser = torch.optim.Adam(
        net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    best, best_epoch, best_state, history = -1.0, 0, None, []
    for epoch in range(1, params.max_epochs + 1):
        order = _tie_order(sequences, rng, shuffle=params.shuffle_ties)
        entries = order[np.isin(order, train, assume_unique=True)]
        inputs, targets = _windows(rows[entries], sequences.cols[entries], params.max_len)
        loss = _epoch(net, optimiser, inputs, targets, rng, batch_size=params.batch_size)
        if held.shape[0] == 0:
            history.append({"epoch": epoch, "loss": loss})
            continue
        score = _validate(net, sequences, rows, train, held, max_len=params.max_len)
        history.append({"epoch": epoch, "loss": loss, "validation_ndcg10": score})
        _log.info("sasrec epoch %d: loss %.4f, validation NDCG@10 %.4f", epoch, loss, score)
        if score > best:
            best, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= params.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    diagnostics = {
        "epochs": len(history),
        "best_epoch": best_epoch or len(history),
        "validation_ndcg10": round(best, 5) if held.shape[0] else None,
        "validation_users": int(held.shape[0]),
        "train_windows": int(
            _windows(rows[train], sequences.cols[train], params.max_len)[0].shape[0]
        ),
        "fit_seconds": round(time.perf_counter() - started, 2),
        "last_loss": round(float(history[-1]["loss"]), 4),
    }
    return Fitted(net.to_weights(), diagnostics)


def _tie_order(sequences: Sequences, rng: np.random.Generator, *, shuffle: bool) -> IndexArray:
    # Entry order by (row, time, key): key = position (the given (time, movie id) order) or
    # a random draw, which reorders items that share a timestamp.
    n = sequences.cols.shape[0]
    key = np.asarray(rng.random(n) if shuffle else np.arange(n), dtype=np.float64)
    order: IndexArray = np.lexsort((key, sequences.times, sequences.rows())).astype(np.intp)
    return order


def _validation_entries(
    sequences: Sequences, order: IndexArray, rng: np.random.Generator, *, share: float
) -> IndexArray:
    # The latest entry (in ``order``) of a ``share`` sample of the users with >= 3 items.
    if share <= 0.0:
        return np.zeros(0, dtype=np.intp)
    rows = sequences.rows()[order]
    last = np.flatnonzero(np.r_[rows[1:] != rows[:-1], True]) if rows.shape[0] else rows
    eligible = sequences.lengths[rows[last]] >= 3
    picked = rng.random(last.shape[0]) < share
    held: IndexArray = np.sort(order[last[eligible & picked]]).astype(np.intp)
    return held


def _windows(rows: IndexArray, cols: IndexArray, max_len: int) -> tuple[Int64, Int64]:
    """(windows, max_len) inputs and targets (item index + 1, 0 = padding), right-aligned.

    ``rows``/``cols`` are entries grouped by row in time order. Target = an entry with a
    predecessor in its row; input = that predecessor; window = (row, distance from end // L).
    """
    n = rows.shape[0]
    if n == 0:
        empty = np.zeros((0, max_len), dtype=np.int64)
        return empty, empty
    starts = np.r_[True, rows[1:] != rows[:-1]]
    ends = np.r_[rows[1:] != rows[:-1], True]
    row_id = np.cumsum(starts) - 1
    end_at = np.flatnonzero(ends)[row_id]
    back = end_at - np.arange(n)  # 0 = latest entry of its row
    lengths = np.bincount(row_id)
    per_row = np.maximum(lengths - 1 + max_len - 1, 0) // max_len  # ceil((length - 1) / L)
    offsets = np.r_[0, np.cumsum(per_row)[:-1]]
    is_target = ~starts
    b = back[is_target]
    window = offsets[row_id[is_target]] + b // max_len
    column = max_len - 1 - b % max_len
    inputs = np.zeros((int(per_row.sum()), max_len), dtype=np.int64)
    targets = np.zeros_like(inputs)
    targets[window, column] = cols[is_target] + 1
    inputs[window, column] = cols[np.flatnonzero(is_target) - 1] + 1
    return inputs, targets


def _epoch(
    net: SASRecNet,
    optimiser: torch.optim.Optimizer,
    inputs: Int64,
    targets: Int64,
    rng: np.random.Generator,
    *,
    batch_size: int,
) -> float:
    net.train()
    total, count = 0.0, 0
    for batch in np.array_split(
        rng.permutation(inputs.shape[0]), max(1, -(-inputs.shape[0] // batch_size))
    ):
        x, y = inputs[batch], targets[batch]
        # Drop the columns that are padding in every row of the batch (short histories).
        first = int(np.argmax((x > 0).any(axis=0))) if (x > 0).any() else x.shape[1] - 1
        x_t, y_t = torch.from_numpy(x[:, first:]), torch.from_numpy(y[:, first:])
        vectors = net(x_t)
        keep = y_t > 0
        logits = net.logits(vectors[keep])
        loss = torch.nn.functional.cross_entropy(logits, y_t[keep] - 1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += float(loss.item()) * int(keep.sum())
        count += int(keep.sum())
    return total / max(count, 1)


def _validate(
    net: SASRecNet,
    sequences: Sequences,
    rows: IndexArray,
    train: IndexArray,
    held: IndexArray,
    *,
    max_len: int,
) -> float:
    # NDCG@10 of each held-out item against every item its user has not trained on.
    net.eval()
    users = rows[held]
    in_train = np.isin(rows[train], users)
    t_rows, t_cols = rows[train][in_train], sequences.cols[train][in_train]
    position = np.searchsorted(users, t_rows)
    inputs = _latest(position, t_cols, users.shape[0], max_len)
    gains = []
    with torch.no_grad():
        for start in range(0, users.shape[0], 256):
            stop = min(start + 256, users.shape[0])
            vectors = net(torch.from_numpy(inputs[start:stop]))[:, -1, :]
            scores = net.logits(vectors).numpy()
            block = (position >= start) & (position < stop)
            scores[position[block] - start, t_cols[block]] = -np.inf
            target = sequences.cols[held[start:stop]]
            mine = scores[np.arange(stop - start), target]
            rank = (scores > mine[:, None]).sum(axis=1)
            gains.append(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0))
    return float(np.concatenate(gains).mean())


def _latest(position: IndexArray, cols: IndexArray, n_rows: int, max_len: int) -> Int64:
    # Right-aligned (n_rows, max_len) latest items (index + 1) of entries grouped by position.
    out = np.zeros((n_rows, max_len), dtype=np.int64)
    if cols.shape[0] == 0:
        return out
    ends = np.r_[position[1:] != position[:-1], True]
    end_at = np.flatnonzero(ends)[np.cumsum(np.r_[True, position[1:] != position[:-1]]) - 1]
    back = end_at - np.arange(cols.shape[0])
    keep = back < max_len
    out[position[keep], max_len - 1 - back[keep]] = cols[keep] + 1
    return out
