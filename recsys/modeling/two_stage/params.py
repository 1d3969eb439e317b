"""``two_stage``'s parameters: candidates per source, ranker periods, features, LightGBM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recsys.modeling.params import ModelParams, check_float, check_int


@dataclass(frozen=True, kw_only=True)
class TwoStageParams(ModelParams):
    """Candidates per source, ranker training periods, feature windows and LightGBM settings."""

    model_type: ClassVar[str] = "two_stage"

    per_source: int = 50
    # EASE proposes more: on a history that is a random sample of the user's movies its own
    # ranking is the one to beat, and the union must hold all of its top ranks.
    ease_per_source: int = 150
    # EASE's weights are dense: above this many items it is fit on this many most-rated items
    # only. Its inverse costs ~2 n^3 flops: 10k items took over 10 minutes here (2 shared
    # cores); 4k is 64 MB of float32 to serve and well under a minute to fit.
    ease_items: int = 4_000
    # Users whose histories make the ranker's training groups (a fixed pseudo-random sample
    # above this many): the groups are ~4 per user x ~250 candidates x ~30 float32 features,
    # so 162k users would be ~20 GB. 5k users give ~20k groups (ML-100K trains on ~3.7k) and
    # keep candidate generation and LightGBM to minutes at 62k items (1M synthetic rows,
    # 10k users: 208 s of candidates, >5 min of LightGBM on 2 shared cores).
    ranker_users: int = 5_000
    # Each user's latest ``periods`` training rows become ranker labels.
    periods: int = 3
    # Share of each user's rows held out (pseudo-randomly, stable per row) as the positives of
    # one "scattered" group per user; 0 trains on next-item groups only.
    holdout_share: float = 0.2
    # Weight of a scattered group against a next-item group in the ranker's loss. A served
    # model cannot tell which kind of request it faces, so this trades one for the other
    # (ML-100K NDCG@10 leave-last-out / random 80/20: 0.35 -> 0.101 / 0.177, 0.5 -> 0.095 /
    # 0.191, 0.7 -> 0.091 / 0.231, 1 -> 0.082 / 0.263; reports/ml-100k-two-stage).
    scattered_weight: float = 0.5
    # Features: the latest items that form the "recent" genre and year profile, and the
    # window of the recent item popularity.
    last_items: int = 10
    recent_days: float = 30.0
    n_estimators: int = 500
    learning_rate: float = 0.05
    # Small trees with large leaves: the ranker sees sources fit on less data than when served,
    # and fine splits on them do not carry over (ML-100K: LLO 0.0969 / random 0.195 NDCG@10
    # against 0.0918 / 0.185 with 31 leaves of 20, at scattered_weight 0.5, raw source scores).
    num_leaves: int = 15
    min_child_samples: int = 200
    early_stopping: int = 50
    # Share of users whose groups are held out for early stopping and the reported AUC.
    validation_share: float = 0.2
    random_state: int = 42
    num_threads: int = 2
    # A sixth candidate source and its (score, rank) features: the sasrec encoder (default
    # parameters), fit twice like the others (on base, then on every row). Off by default:
    # it needs torch to fit, which the default install leaves out (README, "sasrec").
    sasrec_source: bool = False

    def __post_init__(self) -> None:
        check_int("two_stage", "per_source", self.per_source, low=1, high=10_000)
        check_int("two_stage", "ease_per_source", self.ease_per_source, low=1, high=10_000)
        check_int("two_stage", "ease_items", self.ease_items, low=1, high=100_000)
        check_int("two_stage", "ranker_users", self.ranker_users, low=1, high=1 << 30)
        check_int("two_stage", "periods", self.periods, low=1, high=1000)
        check_float("two_stage", "holdout_share", self.holdout_share, low=0.0, high=1.0)
        check_float("two_stage", "scattered_weight", self.scattered_weight, low=0.0, low_open=True)
        check_int("two_stage", "last_items", self.last_items, low=1, high=100_000)
        check_float("two_stage", "recent_days", self.recent_days, low=0.0, low_open=True)
        check_int("two_stage", "n_estimators", self.n_estimators, low=1, high=100_000)
        check_float(
            "two_stage", "learning_rate", self.learning_rate, low=0.0, high=1.0, low_open=True
        )
        check_int("two_stage", "num_leaves", self.num_leaves, low=2, high=131_072)
        check_int("two_stage", "min_child_samples", self.min_child_samples, low=1, high=1 << 30)
        check_int("two_stage", "early_stopping", self.early_stopping, low=1, high=100_000)
        check_float(
            "two_stage", "validation_share", self.validation_share, low=0.0, high=1.0,
            low_open=True,
        )  # fmt: skip
        check_int("two_stage", "random_state", self.random_state, low=0, high=2**31 - 1)
        check_int("two_stage", "num_threads", self.num_threads, low=1, high=1024)
        if not isinstance(self.sasrec_source, bool):
            raise ValueError(
                f"two_stage.sasrec_source must be true or false, got {self.sasrec_source!r}"
            )
