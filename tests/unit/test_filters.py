"""Filters inside the ranking: the eligibility mask, every model ranking within it, MMR, parsing.

The toy catalogue is ``two_taste_items``: movies 100..107 are Drama of 1990..1997, 200..207
Comedy of 1970..1977. A filter must act before the top-k cut: a model's answer within a mask is
its full unfiltered ranking with the disallowed movies taken out, cut at k.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recsys.data.frames import Interactions
from recsys.modeling.base import PAD_ID, History, Recommender
from recsys.modeling.dataset import build_matrix
from recsys.modeling.diversity import genre_coverage, intra_list_diversity, mmr, unit_rows
from recsys.modeling.eligibility import Criteria, ItemCatalogue
from recsys.modeling.items import ItemAttributes
from recsys.modeling.registry import MODEL_TYPES, create_model, model_class
from recsys.modeling.toy import two_taste_groups, two_taste_items
from recsys.service.eligibility import Eligibility
from recsys.service.filters import (
    MAX_IDS,
    FilterRequest,
    InvalidFilterError,
    filter_request,
    parse_filter_query,
)

GROUP_A_USER = 1  # rated 100..107 except 101 and 102


def catalogue(item_ids: list[int]) -> ItemCatalogue:
    return ItemCatalogue.align(two_taste_items(), np.asarray(item_ids, dtype=np.int64))


ALL = [*range(100, 108), *range(200, 208)]


def allowed_ids(criteria: Criteria, **kwargs: Any) -> list[int]:
    items = catalogue(ALL)
    return [int(i) for i in items.item_ids[items.eligible(criteria, **kwargs)]]


def test_each_criterion_alone_and_combined() -> None:
    assert allowed_ids(Criteria()) == ALL
    assert allowed_ids(Criteria(genres=frozenset({"Comedy"}))) == list(range(200, 208))
    assert allowed_ids(Criteria(genres=frozenset({"Comedy", "Drama"}))) == ALL
    assert allowed_ids(Criteria(exclude_genres=frozenset({"Comedy"}))) == list(range(100, 108))
    assert allowed_ids(Criteria(year_min=1996)) == [106, 107]
    assert allowed_ids(Criteria(year_max=1971)) == [200, 201]
    assert allowed_ids(Criteria(year_min=1975, year_max=1991)) == [100, 101, 205, 206, 207]
    assert allowed_ids(Criteria(exclude=frozenset({100, 200, 999}))) == [
        i for i in ALL if i not in (100, 200)
    ]
    assert allowed_ids(Criteria(only=frozenset({107, 200, 999}))) == [107, 200]
    assert allowed_ids(Criteria(only=frozenset())) == []
    combined = Criteria(
        genres=frozenset({"Drama"}), year_min=1993, exclude=frozenset({104}), only=None
    )
    assert allowed_ids(combined) == [103, 105, 106, 107]
    # The service's own exclusions (soft deletes, dislikes) go through the same mask.
    assert allowed_ids(combined, excluded=[103, 107]) == [105, 106]


def test_unknown_years_fail_year_bounds_and_uncatalogued_items_are_never_allowed() -> None:
    items = ItemAttributes.from_records([1, 2], [None, 2000], [("Drama",), ()])
    aligned = ItemCatalogue.align(items, np.array([1, 2, 3], dtype=np.int64))
    assert aligned.eligible(Criteria()).tolist() == [True, True, False]
    assert aligned.eligible(Criteria(year_max=2100)).tolist() == [False, True, False]
    assert aligned.eligible(Criteria(exclude_genres=frozenset({"Drama"}))).tolist() == [
        False,
        True,
        False,
    ]


def test_genre_bitsets_hold_more_than_64_genres() -> None:
    names = [f"g{i:03d}" for i in range(70)]
    items = ItemAttributes.from_records(
        [1, 2, 3], [2000, 2000, 2000], [[names[0]], [names[69]], names[1:69]]
    )
    aligned = ItemCatalogue.align(items, np.array([1, 2, 3], dtype=np.int64))
    assert aligned.bits.shape == (3, 2)
    assert aligned.eligible(Criteria(genres=frozenset({"g069"}))).tolist() == [False, True, False]
    assert aligned.eligible(Criteria(exclude_genres=frozenset({"g000", "g068"}))).tolist() == [
        False,
        True,
        False,
    ]
    assert aligned.genre_matrix()[1, 69] == 1.0 and aligned.genre_matrix()[0, 0] == 1.0


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return two_taste_groups()


@pytest.fixture(scope="module")
def models(interactions: Interactions) -> dict[str, Recommender[Any]]:
    matrix = build_matrix(interactions, weighting="confidence", alpha=1.0, items=two_taste_items())
    return {
        name: create_model(name, dict(model_class(name).example_params)).fit(matrix)
        for name in sorted(MODEL_TYPES)
    }


def history_of(interactions: Interactions, user_id: int) -> History:
    rows = interactions.user_ids == user_id
    return History(
        interactions.movie_ids[rows], interactions.ratings[rows], interactions.timestamps[rows]
    )


MASKS = {
    "drama after 1993": Criteria(genres=frozenset({"Drama"}), year_min=1993),
    "comedy only (the other group)": Criteria(genres=frozenset({"Comedy"})),
    "allow-list": Criteria(only=frozenset({102, 203, 206, 107})),
    "exclude the best": Criteria(exclude=frozenset({101, 102})),
}


@pytest.mark.parametrize("mask_name", sorted(MASKS))
@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_every_model_ranks_within_the_mask_before_the_cut(
    model_type: str,
    mask_name: str,
    models: dict[str, Recommender[Any]],
    interactions: Interactions,
) -> None:
    model = models[model_type]
    history = history_of(interactions, GROUP_A_USER)
    allowed = ItemCatalogue.align(two_taste_items(), model.item_ids).eligible(MASKS[mask_name])
    allowed_set = set(model.item_ids[allowed].tolist())
    full, full_scores = model.recommend(GROUP_A_USER, history=history, k=model.n_items)
    expected = [i for i in full.tolist() if i in allowed_set]
    for k in (1, 2, 3, 16):
        ids, scores = model.recommend(GROUP_A_USER, history=history, k=k, allowed=allowed)
        # The filtered answer is the full ranking less the disallowed movies, cut at k: the
        # list is filled from allowed movies, never trimmed.
        assert ids.tolist() == expected[:k], (model_type, mask_name, k)
        assert np.all(np.diff(scores) <= 0)
        reference, _ = model.recommend_reference(
            GROUP_A_USER, history=history, k=k, allowed=allowed
        )
        assert reference.tolist() == expected[:k]
    batch, _ = model.recommend_batch([GROUP_A_USER], histories=[history], k=3, allowed=allowed)
    assert [i for i in batch[0].tolist() if i != PAD_ID] == expected[:3]
    del full_scores


def test_dense_models_fill_k_from_the_other_group(
    models: dict[str, Recommender[Any]], interactions: Interactions
) -> None:
    # A group-A user, Comedy only: every model that scores every item answers k comedies.
    history = history_of(interactions, GROUP_A_USER)
    for name in ("als", "ease", "popularity", "svd", "bpr", "two_stage"):
        model = models[name]
        allowed = ItemCatalogue.align(two_taste_items(), model.item_ids).eligible(
            Criteria(genres=frozenset({"Comedy"}))
        )
        ids, _ = model.recommend(GROUP_A_USER, history=history, k=5, allowed=allowed)
        assert len(ids) == 5 and all(200 <= i < 208 for i in ids.tolist()), name


@pytest.mark.parametrize("model_type", ["als", "item_knn", "ease", "two_stage"])
def test_similar_items_within_the_mask(
    model_type: str, models: dict[str, Recommender[Any]]
) -> None:
    model = models[model_type]
    allowed = ItemCatalogue.align(two_taste_items(), model.item_ids).eligible(
        Criteria(exclude=frozenset({101}), year_max=1995)
    )
    full, _ = model.similar_items(100, k=model.n_items)
    expected = [i for i in full.tolist() if i != 101 and (i < 200 and i <= 105 or i >= 200)]
    ids, _ = model.similar_items(100, k=3, allowed=allowed)
    assert ids.tolist() == expected[:3]


def test_a_mask_of_the_wrong_shape_is_refused(models: dict[str, Recommender[Any]]) -> None:
    with pytest.raises(ValueError, match="bool mask over the model's 16 items"):
        models["als"].recommend(1, k=3, allowed=np.ones(3, dtype=np.bool_))


def test_mmr_keeps_the_order_at_zero_and_spreads_genres_at_one() -> None:
    genres = np.array(
        [[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32
    )  # items 0-2 the same genre, 3 and 4 others
    unit = unit_rows(genres)
    candidates = np.arange(5, dtype=np.intp)
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0], dtype=np.float32)
    kept, kept_scores = mmr(candidates, scores, unit, 3, 0.0)
    assert kept.tolist() == [0, 1, 2] and kept_scores.tolist() == [5.0, 4.0, 3.0]
    spread, _ = mmr(candidates, scores, unit, 3, 1.0)
    assert spread.tolist() == [0, 3, 4]
    # Half way: relevance (1, .75, .5, .25, 0) against similarity 1 to item 0: 3 beats 1.
    half, _ = mmr(candidates, scores, unit, 3, 0.5)
    assert half.tolist() == [0, 3, 4]
    light, _ = mmr(candidates, scores, unit, 3, 0.1)
    assert light.tolist() == [0, 1, 2]
    top = np.array([[0, 1, 2], [0, 3, 4], [0, -1, -1]], dtype=np.intp)
    ild = intra_list_diversity(top, unit)
    assert ild[0] == pytest.approx(0.0) and ild[1] == pytest.approx(1.0) and np.isnan(ild[2])
    assert genre_coverage(top, genres).tolist() == pytest.approx([1 / 3, 1.0, 1 / 3])


def test_query_parsing_reads_only_filter_parameters() -> None:
    assert parse_filter_query({"k": "3", "model": "als"}) is None
    parsed = parse_filter_query(
        {
            "genres": "Comedy, Drama",
            "exclude_genres": "Horror",
            "year_min": "1990",
            "year_max": "1999",
            "exclude": "50,v001",
            "only": "1,2,50",
            "diversify": "0.5",
        }
    )
    assert parsed == FilterRequest(
        genres=("Comedy", "Drama"),
        exclude_genres=("Horror",),
        year_min=1990,
        year_max=1999,
        exclude=("50", "v001"),
        only=("1", "2", "50"),
        diversify=0.5,
    )
    assert parsed.filters
    diversify_only = parse_filter_query({"diversify": "0.2"})
    assert diversify_only is not None and not diversify_only.filters


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ({"year_min": "2000", "year_max": "1990"}, "year_min", "2000 is after year_max 1990"),
        ({"year_min": "abc"}, "year_min", "must be a year in 1800..2200"),
        ({"year_max": "99999"}, "year_max", "must be a year in 1800..2200"),
        ({"genres": ""}, "genres", "no empty item"),
        ({"genres": "Comedy,,Drama"}, "genres", "no empty item"),
        ({"exclude": ",".join(str(i) for i in range(1, MAX_IDS + 2))}, "exclude", "at most 1000"),
        ({"only": ",".join(str(i) for i in range(1, MAX_IDS + 2))}, "only", "at most 1000"),
        ({"diversify": "1.5"}, "diversify", "0..1"),
        ({"diversify": "nan"}, "diversify", "0..1"),
        ({"diversify": "much"}, "diversify", "0..1"),
    ],
)
def test_bad_query_values_name_the_parameter(query: dict[str, str], param: str, words: str) -> None:
    with pytest.raises(InvalidFilterError) as error:
        parse_filter_query(query)
    assert error.value.param == param
    assert str(error.value).startswith(f"{param}: ") and words in str(error.value)


def test_exactly_1000_ids_are_accepted() -> None:
    parsed = filter_request(only=list(range(1, MAX_IDS + 1)))
    assert parsed.only is not None and len(parsed.only) == MAX_IDS
    with pytest.raises(InvalidFilterError, match="only: takes movie ids in 1..2147483647"):
        filter_request(only=[0])


async def test_unknown_genres_list_the_known_ones() -> None:
    eligibility = Eligibility(two_taste_items())

    async def no_session() -> Any:
        raise AssertionError("no external id to look up")

    with pytest.raises(InvalidFilterError) as error:
        await eligibility.criteria(FilterRequest(genres=("Comedy", "Western")), no_session)
    assert str(error.value) == "genres: unknown genre 'Western'; known genres: Comedy, Drama"
    criteria = await eligibility.criteria(
        FilterRequest(exclude=(7, 8), only=(9,), genres=("Drama",)), no_session
    )
    assert criteria == Criteria(
        genres=frozenset({"Drama"}), exclude=frozenset({7, 8}), only=frozenset({9})
    )


def test_masks_are_kept_per_criteria_read_only_and_exclusions_are_never_cached(
    models: dict[str, Recommender[Any]],
) -> None:
    eligibility = Eligibility(two_taste_items())
    model = models["popularity"]
    comedy = Criteria(genres=frozenset({"Comedy"}))
    first = eligibility.mask(model, comedy)
    assert eligibility.mask(model, Criteria(genres=frozenset({"Comedy"}))) is first
    assert not first.flags.writeable
    with_dislikes = eligibility.mask(model, comedy, excluded=[200])
    assert with_dislikes is not first
    assert model.item_ids[with_dislikes].tolist() == list(range(201, 208))
    assert model.item_ids[eligibility.mask(model, comedy)].tolist() == list(range(200, 208))
