"""``sasrec``'s parameters: network shape, training schedule, early stopping, seed, threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recsys.modeling.params import ModelParams, check_float, check_int


@dataclass(frozen=True, kw_only=True)
class SASRecParams(ModelParams):
    """Encoder shape (items seen, width, blocks, heads), Adam schedule and early stopping."""

    model_type: ClassVar[str] = "sasrec"

    # The latest ``max_len`` items of a history are encoded; longer training histories are cut
    # into several windows of this length, so no training row is wasted.
    max_len: int = 50
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    max_epochs: int = 200
    # Early stopping: every user's latest training item (of a ``validation_share`` sample of
    # users) is held out; training stops after ``patience`` epochs without a better NDCG@10 on
    # them and keeps the best epoch's weights. 0 trains ``max_epochs`` on everything.
    validation_share: float = 1.0
    patience: int = 10
    # MovieLens stamps many ratings with the same second; the split breaks such ties by movie
    # id, so a model trained on (time, id) order learns the split's tie-break. Each epoch
    # reorders items with equal timestamps at random instead.
    shuffle_ties: bool = True
    random_state: int = 42
    # Torch's intra-op threads while fitting (serving is numpy and needs none). One: on this
    # project's shared 2-core machine (load 20) two threads took 2x the wall time and ~3x the
    # CPU of one per ML-100K epoch (OpenMP threads spin while the other waits for a core), with
    # identical losses; pass 2 on a quiet machine.
    num_threads: int = 1

    def __post_init__(self) -> None:
        check_int("sasrec", "max_len", self.max_len, low=1, high=10_000)
        check_int("sasrec", "hidden", self.hidden, low=2, high=4096)
        check_int("sasrec", "blocks", self.blocks, low=1, high=32)
        check_int("sasrec", "heads", self.heads, low=1, high=64)
        if self.hidden % self.heads:
            raise ValueError(
                f"sasrec.heads must divide sasrec.hidden ({self.hidden}), got {self.heads}"
            )
        check_float("sasrec", "dropout", self.dropout, low=0.0, high=0.9)
        check_float("sasrec", "learning_rate", self.learning_rate, low=0.0, high=1.0, low_open=True)
        check_float("sasrec", "weight_decay", self.weight_decay, low=0.0, high=1.0)
        check_int("sasrec", "batch_size", self.batch_size, low=1, high=1 << 20)
        check_int("sasrec", "max_epochs", self.max_epochs, low=1, high=100_000)
        check_float("sasrec", "validation_share", self.validation_share, low=0.0, high=1.0)
        check_int("sasrec", "patience", self.patience, low=1, high=100_000)
        if not isinstance(self.shuffle_ties, bool):
            raise ValueError(
                f"sasrec.shuffle_ties must be true or false, got {self.shuffle_ties!r}"
            )
        check_int("sasrec", "random_state", self.random_state, low=0, high=2**31 - 1)
        check_int("sasrec", "num_threads", self.num_threads, low=1, high=1024)
