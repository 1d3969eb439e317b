"""The SASRec encoder as a torch module (training only): network.py's function, same names.

Imported only by ``fit`` (training.py), so loading and serving a model never import torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from recsys.modeling.sasrec.network import BLOCK_ARRAYS, F32, LN_EPS, Weights


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=LN_EPS)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln2 = nn.LayerNorm(d, eps=LN_EPS)
        self.ff1, self.ff2 = nn.Linear(d, d), nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        rows, width, d = x.shape
        dh = d // self.heads
        h = self.ln1(x)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(rows, width, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        logits = logits.masked_fill(~allowed[:, None, :, :], float("-inf"))
        attention = self.drop(torch.softmax(logits, dim=-1))
        out = (attention @ v).transpose(1, 2).reshape(rows, width, d)
        x = x + self.drop(self.o(out))
        ff = self.ff2(self.drop(torch.relu(self.ff1(self.ln2(x)))))
        return x + self.drop(ff)


class SASRecNet(nn.Module):
    """Item + position embeddings, ``blocks`` pre-LN causal self-attention blocks, a last LN."""

    def __init__(
        self, *, n_items: int, max_len: int, hidden: int, blocks: int, heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.heads = heads
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_len, hidden)
        nn.init.normal_(self.items.weight, std=hidden**-0.5)
        nn.init.normal_(self.positions.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(blocks))
        self.final = nn.LayerNorm(hidden, eps=LN_EPS)
        self.drop = nn.Dropout(dropout)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """(rows, width, hidden) vectors of right-aligned sequences (0 = padding)."""
        rows, width = sequences.shape
        max_len = self.positions.num_embeddings
        x = self.items(sequences) * math.sqrt(self.hidden)
        x = self.drop(x + self.positions.weight[max_len - width :])
        valid = sequences > 0
        causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
        eye = torch.eye(width, dtype=torch.bool)
        allowed = causal[None, :, :] & (valid[:, None, :] | eye[None, :, :])
        for block in self.blocks:
            x = block(x, allowed)
        out: torch.Tensor = self.final(x)
        return out

    def logits(self, vectors: torch.Tensor) -> torch.Tensor:
        """Scores of every item (tied table; the padding row excluded)."""
        return vectors @ self.items.weight[1:].T

    def to_weights(self) -> Weights:
        """The numpy arrays network.encode reads (linear weights transposed to (in, out))."""

        def f32(t: torch.Tensor) -> F32:
            out: F32 = t.detach().cpu().numpy().astype(np.float32, copy=True)
            return out

        blocks = []
        for block in self.blocks:
            assert isinstance(block, _Block)
            arrays = {
                "ln1_w": f32(block.ln1.weight), "ln1_b": f32(block.ln1.bias),
                "ln2_w": f32(block.ln2.weight), "ln2_b": f32(block.ln2.bias),
                "w1": f32(block.ff1.weight.T), "b1": f32(block.ff1.bias),
                "w2": f32(block.ff2.weight.T), "b2": f32(block.ff2.bias),
            }  # fmt: skip
            for name, linear in zip("qkvo", (block.q, block.k, block.v, block.o), strict=True):
                arrays[f"w{name}"] = f32(linear.weight.T)
                arrays[f"b{name}"] = f32(linear.bias)
            assert set(arrays) == set(BLOCK_ARRAYS)
            blocks.append(arrays)
        return Weights(
            items=f32(self.items.weight),
            positions=f32(self.positions.weight),
            blocks=tuple(blocks),
            final_w=f32(self.final.weight),
            final_b=f32(self.final.bias),
            heads=self.heads,
        )

    def load_weights(self, weights: Weights) -> None:
        """Set every parameter from numpy arrays (the inverse of ``to_weights``)."""
        with torch.no_grad():
            self.items.weight.copy_(torch.from_numpy(weights.items))
            self.positions.weight.copy_(torch.from_numpy(weights.positions))
            self.final.weight.copy_(torch.from_numpy(weights.final_w))
            self.final.bias.copy_(torch.from_numpy(weights.final_b))
            for block, arrays in zip(self.blocks, weights.blocks, strict=True):
                assert isinstance(block, _Block)
                pairs = [(block.ln1.weight, "ln1_w"), (block.ln1.bias, "ln1_b"),
                         (block.ln2.weight, "ln2_w"), (block.ln2.bias, "ln2_b"),
                         (block.ff1.bias, "b1"), (block.ff2.bias, "b2")]  # fmt: skip
                for name, linear in zip("qkvo", (block.q, block.k, block.v, block.o), strict=True):
                    linear.weight.copy_(torch.from_numpy(arrays[f"w{name}"].T.copy()))
                    pairs.append((linear.bias, f"b{name}"))
                block.ff1.weight.copy_(torch.from_numpy(arrays["w1"].T.copy()))
                block.ff2.weight.copy_(torch.from_numpy(arrays["w2"].T.copy()))
                for param, name in pairs:
                    param.copy_(torch.from_numpy(arrays[name]))
