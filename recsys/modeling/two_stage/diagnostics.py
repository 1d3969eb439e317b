"""``two_stage``'s fit-time figures: validation AUC, gain per feature, candidate recall."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from recsys.modeling.two_stage.features import feature_names
from recsys.modeling.two_stage.ranker import RankerGroups, RankerSplit


def ranker_diagnostics(
    ranker: lgb.Booster, groups: RankerGroups, split: RankerSplit
) -> dict[str, Any]:
    """Group counts, best iteration, gain per feature, candidate recall and validation AUC."""
    in_train, in_valid, positives = split.in_train, split.in_valid, split.positives
    rows = groups.candidates.rows
    names = feature_names(groups.candidates.source_names)
    gain = ranker.feature_importance(importance_type="gain")
    out: dict[str, Any] = {
        "groups": int(groups.users.shape[0]),
        "groups_train": int(in_train.sum()),
        "groups_valid": int(in_valid.sum()),
        "candidates_per_group": float(groups.candidates.n_pairs / max(groups.users.shape[0], 1)),
        "best_iteration": int(ranker.best_iteration or ranker.current_iteration()),
        "gain": {name: float(g) for name, g in zip(names, gain, strict=True)},
        "union_recall": float(positives.mean()),
        "source_recall": {
            name: float(
                np.bincount(
                    rows,
                    groups.labels * np.isfinite(groups.candidates.scores[:, s]),
                    minlength=groups.users.shape[0],
                )
                .astype(bool)
                .mean()
            )
            for s, name in enumerate(groups.candidates.source_names)
        },
    }
    out["groups_scattered"] = int((groups.kinds == 1).sum())
    if in_valid.any():
        pick = in_valid[rows]
        predicted = np.asarray(ranker.predict(groups.features[pick], num_threads=1), np.float64)
        out["valid_auc"] = pooled_auc(predicted, groups.labels[pick])
        kinds = groups.kinds[rows][pick]
        for kind, name in enumerate(("next_item", "scattered")):
            if (kinds == kind).any():
                out[f"valid_auc_{name}"] = pooled_auc(
                    predicted[kinds == kind], groups.labels[pick][kinds == kind]
                )
    return out


def pooled_auc(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.float32]) -> float:
    """P(a positive scores above a negative) over all pairs, ties 1/2 (Mann-Whitney)."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks = np.empty(scores.shape[0])
    ranks[order] = np.repeat(average, counts)
    positive = labels > 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
