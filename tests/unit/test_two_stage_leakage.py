"""The two-stage ranker's training features use nothing at or after the moment they describe.

For a (user, period) group, the features are built once from all the training rows; then every
row at or after that period's label is deleted (the user's own label and later rows, and every
other user's rows from the label time on), the item timeline and the user's sequence are rebuilt
from what is left, and the same candidates must get bit-identical features. The candidate
sources are held fixed: they are fit on "base" (the training rows minus every user's latest
``periods`` rows, which test_base_holds_no_label_row checks), and they are deliberately not
time-aware for other users' rows, as in any two-stage recommender trained on one snapshot.
"""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.evaluation.splits import take
from recsys.modeling.dataset import build_matrix
from recsys.modeling.items import ItemAttributes
from recsys.modeling.sequences import training_sequences
from recsys.modeling.toy import random_interactions
from recsys.modeling.two_stage.params import TwoStageParams
from recsys.modeling.two_stage.sources import (
    base_interactions,
    fit_sources,
    matrix_on,
)
from recsys.modeling.two_stage.training_data import (
    CandidateSources,
    candidate_features,
    feature_context,
    ranker_groups,
    scattered_holdout,
)

PERIODS = 3


@pytest.fixture(scope="module")
def data() -> Interactions:
    return random_interactions(users=40, items=30, density=0.3, seed=5)


@pytest.fixture(scope="module")
def items(data: Interactions) -> ItemAttributes:
    ids = np.unique(data.movie_ids)
    rng = np.random.default_rng(0)
    genres = [tuple(g for g in ("A", "B", "C") if rng.random() < 0.5) for _ in ids]
    return ItemAttributes.from_records(ids.tolist(), (1950 + ids % 40).tolist(), genres)


def test_period_features_are_identical_when_every_later_row_is_deleted(
    data: Interactions, items: ItemAttributes
) -> None:
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(per_source=10, periods=PERIODS, num_threads=1)
    sequences = training_sequences(data, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
    context = feature_context(matrix, sequences, params)
    sources = CandidateSources(fit_sources(base_interactions(matrix, PERIODS), matrix), params)
    groups = ranker_groups(sources, context, sequences, periods=PERIODS)
    checked = 0
    for group in range(0, groups.users.shape[0], 7):
        user = int(groups.users[group])
        prefix = groups.sequences.slice(group, group + 1)
        label_time = int(
            sequences.times[sequences.indptr[user] + prefix.lengths[0]]
        )  # the label is the entry right after the prefix
        user_id = matrix.user_ids[user]
        own = np.flatnonzero(data.user_ids == user_id)
        own = own[np.lexsort((data.movie_ids[own], data.timestamps[own]))][: prefix.lengths[0]]
        others = np.flatnonzero((data.user_ids != user_id) & (data.timestamps < label_time))
        truncated = take(data, np.sort(np.concatenate([own, others])))
        before = matrix_on(truncated, matrix, "binary")
        cut = training_sequences(truncated, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
        np.testing.assert_array_equal(cut.slice(user, user + 1).cols, prefix.cols)
        candidates, features = candidate_features(
            sources,
            feature_context(before, cut, params),
            np.array([user], dtype=np.intp),
            cut.slice(user, user + 1),
        )
        # The same group built alone from all the rows (a batch of one, as above: BLAS may
        # round a one-row product differently from a many-row one, e.g. ALS scores).
        full_candidates, full_features = candidate_features(
            sources, context, np.array([user], dtype=np.intp), prefix
        )
        np.testing.assert_array_equal(candidates.cols, full_candidates.cols)
        np.testing.assert_array_equal(features, full_features)
        pick = groups.candidates.rows == group
        np.testing.assert_array_equal(full_candidates.cols, groups.candidates.cols[pick])
        np.testing.assert_allclose(full_features, groups.features[pick], rtol=1e-4, atol=1e-6)
        checked += 1
    assert checked >= 10


def test_the_check_notices_a_row_the_features_may_use(
    data: Interactions, items: ItemAttributes
) -> None:
    # Sanity of the test above: one more row of another user, just before the history's end,
    # for a candidate item, must change that item's features (item_count).
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(per_source=10, periods=PERIODS, num_threads=1)
    sequences = training_sequences(data, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
    sources = CandidateSources(fit_sources(base_interactions(matrix, PERIODS), matrix), params)
    user = 0
    one = sequences.slice(user, user + 1)
    users = np.array([user], dtype=np.intp)
    candidates, features = candidate_features(
        sources, feature_context(matrix, sequences, params), users, one
    )
    item = int(candidates.cols[0])
    stranger = int(matrix.user_ids.max()) + 1
    extra = Interactions(
        np.append(data.user_ids, stranger),
        np.append(data.movie_ids, matrix.item_ids[item]),
        np.append(data.ratings, np.float32(5.0)),
        np.append(data.timestamps, int(one.reference_times[0]) - 1),
    )
    grown = build_matrix(extra, weighting="binary", items=items)
    grown_sequences = training_sequences(extra, user_ids=grown.user_ids, item_ids=grown.item_ids)
    _, changed = candidate_features(
        sources, feature_context(grown, grown_sequences, params), users, one
    )
    assert not np.array_equal(changed[0], features[0], equal_nan=True)


def test_base_holds_no_label_row(data: Interactions, items: ItemAttributes) -> None:
    matrix = build_matrix(data, weighting="binary", items=items)
    base = base_interactions(matrix, PERIODS)
    for user in np.unique(data.user_ids):
        own = np.flatnonzero(data.user_ids == user)
        order = own[np.lexsort((data.movie_ids[own], data.timestamps[own]))]
        latest = set(data.movie_ids[order[-PERIODS:]].tolist())
        kept = set(base.movie_ids[base.user_ids == user].tolist())
        assert not latest & kept
        assert len(kept) == max(len(own) - PERIODS, 0)


def test_scattered_features_are_identical_when_the_held_out_rows_are_deleted(
    data: Interactions, items: ItemAttributes
) -> None:
    # A scattered group's positives lie anywhere in the user's time line, so the item
    # statistics before the history's end count some of them: the features subtract them.
    # Deleting those rows from the data instead must give bit-identical features, and without
    # the subtraction the features must differ for some group (the check can fail).
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(
        per_source=10, ease_per_source=10, periods=PERIODS, holdout_share=0.3, num_threads=1
    )
    sequences = training_sequences(data, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
    context = feature_context(matrix, sequences, params)
    withheld = scattered_holdout(matrix, sequences, params)
    sources = CandidateSources(
        fit_sources(base_interactions(matrix, PERIODS, withheld=withheld), matrix), params
    )
    groups = ranker_groups(sources, context, sequences, withheld, periods=PERIODS)
    checked = differs = 0
    for group in np.flatnonzero(groups.kinds == 1)[::3]:
        user = int(groups.users[group])
        users = np.array([user], dtype=np.intp)
        history = groups.sequences.slice(group, group + 1)
        positives = groups.positives.slice(group, group + 1)
        assert positives.lengths[0] >= 1 and history.lengths[0] >= 1
        drop = (data.user_ids == matrix.user_ids[user]) & np.isin(
            data.movie_ids, matrix.item_ids[positives.cols]
        )
        kept = take(data, np.flatnonzero(~drop))
        cut = training_sequences(kept, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
        np.testing.assert_array_equal(cut.slice(user, user + 1).cols, history.cols)
        candidates, features = candidate_features(
            sources,
            feature_context(matrix_on(kept, matrix, "binary"), cut, params),
            users,
            cut.slice(user, user + 1),
        )
        full_candidates, full_features = candidate_features(
            sources, context, users, history, withheld=positives
        )
        np.testing.assert_array_equal(candidates.cols, full_candidates.cols)
        np.testing.assert_array_equal(features, full_features)
        pick = groups.candidates.rows == group
        np.testing.assert_allclose(full_features, groups.features[pick], rtol=1e-4, atol=1e-6)
        _, uncorrected = candidate_features(sources, context, users, history)
        differs += not np.array_equal(uncorrected, full_features, equal_nan=True)
        checked += 1
    assert checked >= 5
    assert differs >= 1


def test_base_holds_no_held_out_row(data: Interactions, items: ItemAttributes) -> None:
    matrix = build_matrix(data, weighting="binary", items=items)
    params = TwoStageParams(periods=PERIODS, holdout_share=0.3)
    sequences = training_sequences(data, user_ids=matrix.user_ids, item_ids=matrix.item_ids)
    withheld = scattered_holdout(matrix, sequences, params)
    assert 0 < withheld.sum() < withheld.shape[0]
    base = base_interactions(matrix, PERIODS, withheld=withheld)
    held = set(
        zip(
            matrix.user_ids[sequences.rows()[withheld]].tolist(),
            matrix.item_ids[sequences.cols[withheld]].tolist(),
            strict=True,
        )
    )
    kept = set(zip(base.user_ids.tolist(), base.movie_ids.tolist(), strict=True))
    assert held and not held & kept
    # Every user keeps a history: nobody has all of their rows held out.
    per_user = np.bincount(sequences.rows()[withheld], minlength=sequences.n_rows)
    assert np.all(per_user < sequences.lengths)
