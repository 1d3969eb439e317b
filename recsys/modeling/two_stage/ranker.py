"""``two_stage``'s ranker: its training groups, and LightGBM lambdarank trained on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import IndexArray
from recsys.modeling.sequences import Sequences
from recsys.modeling.two_stage.candidates import CandidateSet
from recsys.modeling.two_stage.features import feature_names
from recsys.modeling.two_stage.params import TwoStageParams


@dataclass(frozen=True)
class RankerGroups:
    """Ranker training data: one group per (user, period) and per scattered user, candidates
    with features and labels."""

    users: IndexArray
    # 0 = next item, 1 = scattered.
    kinds: npt.NDArray[np.int8]
    sequences: Sequences
    # Each group's positive rows (the same row layout as ``sequences``).
    positives: Sequences
    candidates: CandidateSet
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]


@dataclass(frozen=True)
class RankerSplit:
    """Per group: trains the ranker, early-stops it, has a positive among its candidates."""

    in_train: npt.NDArray[np.bool_]
    in_valid: npt.NDArray[np.bool_]
    positives: npt.NDArray[np.bool_]


def train_ranker(groups: RankerGroups, p: TwoStageParams) -> tuple[lgb.Booster, RankerSplit]:
    """LightGBM lambdarank on ``groups``, early-stopped on a ``validation_share`` of users."""
    rows = groups.candidates.rows
    positives = np.bincount(rows, groups.labels, minlength=groups.users.shape[0]) > 0
    rng = np.random.default_rng(p.random_state)
    held_out_user = rng.random(int(groups.users.max()) + 1) < p.validation_share
    in_valid = held_out_user[groups.users] & positives
    in_train = ~held_out_user[groups.users] & positives
    names = list(feature_names(groups.candidates.source_names))
    weights = np.where(groups.kinds == 1, p.scattered_weight, 1.0)
    train_set = _dataset(groups, in_train, names, weights)
    params = {
        "objective": "lambdarank",
        "metric": ["ndcg", "auc"],
        "ndcg_eval_at": [10],
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_data_in_leaf": p.min_child_samples,
        "num_threads": p.num_threads,
        "seed": p.random_state,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    evals: dict[str, Any] = {}
    if in_valid.any():
        valid_set = _dataset(groups, in_valid, names, weights, reference=train_set)
        ranker = lgb.train(
            params,
            train_set,
            num_boost_round=p.n_estimators,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(p.early_stopping, verbose=False),
                lgb.record_evaluation(evals),
            ],
        )
    else:
        ranker = lgb.train(params, train_set, num_boost_round=p.n_estimators)
    return ranker, RankerSplit(in_train=in_train, in_valid=in_valid, positives=positives)


def _dataset(
    groups: RankerGroups,
    wanted: npt.NDArray[np.bool_],
    names: list[str],
    group_weights: npt.NDArray[np.float64],
    *,
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    # LightGBM's lambdarank multiplies each row's gradient by its weight: one weight per group.
    rows = groups.candidates.rows
    pick = wanted[rows]
    sizes = np.bincount(rows[pick], minlength=wanted.shape[0])[wanted]
    return lgb.Dataset(
        groups.features[pick],
        label=groups.labels[pick],
        weight=group_weights[rows[pick]],
        group=sizes,
        feature_name=names,
        reference=reference,
        free_raw_data=False,
    )
