"""The SASRec encoder in numpy: the serving path, on the arrays a fit writes (no torch).

Pre-layer-norm blocks (Kang & McAuley's layout): x += attention(LN(x)); x += FFN(LN(x)); a last
LN; scores = the last position's vector . every item embedding (tied input/output table).
Histories are right-aligned: the latest item always sits at position ``max_len - 1``, so a
history shorter than ``max_len`` uses the last positions only, and a padded batch row computes
exactly what the row would alone (padding keys are masked out of every attention).
The torch module in training.py computes the same function on the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.modeling.errors import ModelStateError

F32 = npt.NDArray[np.float32]
LN_EPS = 1e-5
# Per block, in this order; "b{n}." prefixes them in the state file.
BLOCK_ARRAYS = (
    "ln1_w", "ln1_b", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo",
    "ln2_w", "ln2_b", "w1", "b1", "w2", "b2",
)  # fmt: skip


@dataclass(frozen=True)
class Weights:
    """Every array of a fitted encoder, float32; linear weights are (in, out)."""

    # (n_items + 1, hidden): row 0 is the padding item, row i + 1 the model's item i.
    items: F32
    positions: F32
    blocks: tuple[Mapping[str, F32], ...]
    final_w: F32
    final_b: F32
    heads: int

    @property
    def hidden(self) -> int:
        """Width of every vector."""
        return int(self.items.shape[1])

    @property
    def max_len(self) -> int:
        """Latest items encoded."""
        return int(self.positions.shape[0])

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Named arrays for one .npz file."""
        out: dict[str, npt.NDArray[Any]] = {
            "items": self.items,
            "positions": self.positions,
            "final_w": self.final_w,
            "final_b": self.final_b,
            "heads": np.asarray([self.heads], dtype=np.int64),
        }
        for n, block in enumerate(self.blocks):
            out.update({f"b{n}.{name}": block[name] for name in BLOCK_ARRAYS})
        return out

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, npt.NDArray[Any]], *, n_items: int, blocks: int
    ) -> Weights:
        """Rebuild from ``to_arrays``' names, checking every shape against ``n_items``."""
        missing = [
            k for k in ("items", "positions", "final_w", "final_b", "heads") if k not in arrays
        ]
        missing += [
            f"b{n}.{name}"
            for n in range(blocks)
            for name in BLOCK_ARRAYS
            if f"b{n}.{name}" not in arrays
        ]
        if missing:
            raise ModelStateError(f"sasrec.npz lacks array(s) {', '.join(missing)}")
        items = _f32(arrays, "items")
        if items.ndim != 2 or items.shape[0] != n_items + 1:
            raise ModelStateError(
                f"sasrec.npz: items has shape {items.shape}, expected ({n_items + 1}, hidden)"
            )
        d = int(items.shape[1])
        shapes = {"ln1_w": (d,), "ln1_b": (d,), "ln2_w": (d,), "ln2_b": (d,), "w1": (d, d),
                  "b1": (d,), "w2": (d, d), "b2": (d,)}  # fmt: skip
        shapes.update({f"w{x}": (d, d) for x in "qkvo"} | {f"b{x}": (d,) for x in "qkvo"})
        parsed = []
        for n in range(blocks):
            block = {name: _f32(arrays, f"b{n}.{name}") for name in BLOCK_ARRAYS}
            for name, array in block.items():
                if array.shape != shapes[name]:
                    raise ModelStateError(
                        f"sasrec.npz: b{n}.{name} has shape {array.shape}, expected {shapes[name]}"
                    )
            parsed.append(block)
        positions = _f32(arrays, "positions")
        heads = int(np.asarray(arrays["heads"]).ravel()[0])
        if positions.ndim != 2 or positions.shape[1] != d or heads < 1 or d % heads:
            raise ModelStateError(
                f"sasrec.npz: positions {positions.shape} / heads {heads} do not fit hidden {d}"
            )
        return cls(
            items, positions, tuple(parsed), _f32(arrays, "final_w"), _f32(arrays, "final_b"), heads
        )


def _f32(arrays: Mapping[str, npt.NDArray[Any]], key: str) -> F32:
    array = np.asarray(arrays[key])
    if array.dtype != np.float32:
        raise ModelStateError(f"sasrec.npz: {key} must be float32, got {array.dtype}")
    return array


def encode(weights: Weights, sequences: npt.NDArray[np.intp]) -> F32:
    """(rows, hidden) last-position vectors of right-aligned (rows, width) item sequences.

    Entries are item index + 1, 0 = padding (left of the items); ``width <= max_len``; a row
    of padding only gives the vector of a lone padding item (callers do not score those).
    """
    rows, width = sequences.shape
    d = weights.hidden
    x = weights.items[sequences] * np.float32(np.sqrt(d))
    x += weights.positions[weights.max_len - width :]
    valid = sequences > 0
    # Query i sees keys j <= i that are items; padding queries see themselves (no empty rows).
    allowed = np.tril(np.ones((width, width), dtype=np.bool_))[None, :, :] & (
        valid[:, None, :] | np.eye(width, dtype=np.bool_)[None, :, :]
    )
    for n, block in enumerate(weights.blocks):
        last = n == len(weights.blocks) - 1
        x = _block(x, block, allowed, weights.heads, last_only=last)
    return _layer_norm(x[:, -1, :], weights.final_w, weights.final_b)


def _block(
    x: F32, block: Mapping[str, F32], allowed: npt.NDArray[np.bool_], heads: int, *, last_only: bool
) -> F32:
    # The last block's output is read at the last position only: its queries are that one row.
    rows, width, d = x.shape
    dh = d // heads
    h = _layer_norm(x, block["ln1_w"], block["ln1_b"])
    q_in = h[:, -1:, :] if last_only else h
    mask = allowed[:, -1:, :] if last_only else allowed
    q = (q_in @ block["wq"] + block["bq"]).reshape(rows, -1, heads, dh).transpose(0, 2, 1, 3)
    k = (h @ block["wk"] + block["bk"]).reshape(rows, width, heads, dh).transpose(0, 2, 3, 1)
    v = (h @ block["wv"] + block["bv"]).reshape(rows, width, heads, dh).transpose(0, 2, 1, 3)
    logits = (q @ k) * np.float32(1.0 / np.sqrt(dh))
    logits = np.where(mask[:, None, :, :], logits, np.float32(-np.inf))
    logits -= logits.max(axis=-1, keepdims=True)
    attention = np.exp(logits)
    attention /= attention.sum(axis=-1, keepdims=True)
    out = (attention @ v).transpose(0, 2, 1, 3).reshape(rows, -1, d)
    y = (x[:, -1:, :] if last_only else x) + out @ block["wo"] + block["bo"]
    h2 = _layer_norm(y, block["ln2_w"], block["ln2_b"])
    ff = np.maximum(h2 @ block["w1"] + block["b1"], np.float32(0.0)) @ block["w2"] + block["b2"]
    result: F32 = (y + ff).astype(np.float32, copy=False)
    return result


def _layer_norm(x: F32, w: F32, b: F32) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: F32 = (centred / np.sqrt(var + np.float32(LN_EPS)) * w + b).astype(np.float32, copy=False)
    return out


def item_scores(weights: Weights, vectors: F32) -> F32:
    """(rows, n_items) scores: each vector . every item's embedding."""
    out: F32 = vectors @ weights.items[1:].T
    return out
