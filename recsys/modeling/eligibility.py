"""Which of a model's items a request may be answered with: a boolean mask over its item index.

Filters (genres, years, exclude and allow lists) and business exclusions (movies gone from the
catalogue, a user's disliked movies) are all applied the same way: the request builds one
``allowed`` mask over the model's items and the model ranks only those, before its top-k cut,
so a filtered answer still has k movies whenever k are eligible.

The catalogue's columns are taken once per model (``ItemCatalogue.align``, at load time), so a
request costs a few vectorised comparisons over arrays of the catalogue's size: genres as one
bitset word per 64 genres, years as float32 (NaN when unknown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import BoolArray, IdArray, lookup
from recsys.modeling.items import ItemAttributes

Bits = npt.NDArray[np.uint64]

_WORD = 64


@dataclass(frozen=True)
class Criteria:
    """What a request allows, in catalogue terms (validated by the service, not here).

    ``genres`` keeps movies with any of them; ``exclude_genres`` drops movies with any of them;
    ``year_min``/``year_max`` are inclusive and drop movies whose year is unknown; ``exclude``
    drops movie ids; ``only`` (when not None) keeps just these movie ids.
    """

    genres: frozenset[str] = frozenset()
    exclude_genres: frozenset[str] = frozenset()
    year_min: int | None = None
    year_max: int | None = None
    exclude: frozenset[int] = frozenset()
    only: frozenset[int] | None = None

    @property
    def is_empty(self) -> bool:
        """True when the criteria allow every movie."""
        return (
            not self.genres
            and not self.exclude_genres
            and self.year_min is None
            and self.year_max is None
            and not self.exclude
            and self.only is None
        )


NO_CRITERIA = Criteria()


@dataclass(frozen=True)
class ItemCatalogue:
    """Catalogue columns in one model's item order (``item_ids``), taken once per model."""

    item_ids: IdArray
    years: npt.NDArray[np.float32]
    # (items, words) uint64: bit g % 64 of word g // 64 is set when the item has genre g.
    bits: Bits
    genre_names: tuple[str, ...]
    # False for items the catalogue does not hold (deleted since the model was trained).
    known: BoolArray
    _column: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._column.update({name: j for j, name in enumerate(self.genre_names)})

    @classmethod
    def align(cls, items: ItemAttributes, item_ids: IdArray) -> ItemCatalogue:
        """``items``' years and genres for ``item_ids`` (a model's sorted item ids)."""
        rows = lookup(items.movie_ids, item_ids)
        known = rows >= 0
        n_genres = len(items.genre_names)
        words = max(1, -(-n_genres // _WORD))
        years = np.full(item_ids.shape[0], np.nan, dtype=np.float32)
        years[known] = items.years[rows[known]]
        bits = np.zeros((item_ids.shape[0], words), dtype=np.uint64)
        present = items.genres[rows[known]] > 0
        for g in range(n_genres):
            word, bit = divmod(g, _WORD)
            bits[known, word] |= present[:, g].astype(np.uint64) << np.uint64(bit)
        return cls(item_ids, years, bits, items.genre_names, known)

    @property
    def n_items(self) -> int:
        """Items of the model."""
        return int(self.item_ids.shape[0])

    def genre_bits(self, names: Iterable[str]) -> Bits:
        """The bitset of ``names`` (genres the catalogue does not have set no bit)."""
        out = np.zeros(self.bits.shape[1], dtype=np.uint64)
        for name in names:
            g = self._column.get(name)
            if g is not None:
                word, bit = divmod(g, _WORD)
                out[word] |= np.uint64(1) << np.uint64(bit)
        return out

    def genre_matrix(self) -> npt.NDArray[np.float32]:
        """(items, genres) 0/1 float32, for genre similarities (diversity)."""
        n_genres = len(self.genre_names)
        out = np.zeros((self.n_items, n_genres), dtype=np.float32)
        for g in range(n_genres):
            word, bit = divmod(g, _WORD)
            out[:, g] = (self.bits[:, word] >> np.uint64(bit)) & np.uint64(1)
        return out

    def eligible(self, criteria: Criteria, *, excluded: Iterable[int] = ()) -> BoolArray:
        """The mask of items ``criteria`` allow, less the movie ids in ``excluded``.

        ``excluded`` is for the service's own rules (soft-deleted movies, a user's dislikes):
        they go through the same mask as a request's ``exclude``.
        """
        allowed = self.known.copy()
        if criteria.genres:
            allowed &= _any_bit(self.bits, self.genre_bits(criteria.genres))
        if criteria.exclude_genres:
            allowed &= ~_any_bit(self.bits, self.genre_bits(criteria.exclude_genres))
        # NaN (unknown year) fails both comparisons, so a year bound drops those movies.
        if criteria.year_min is not None:
            allowed &= self.years >= criteria.year_min
        if criteria.year_max is not None:
            allowed &= self.years <= criteria.year_max
        if criteria.only is not None:
            keep = np.zeros_like(allowed)
            keep[self._positions(criteria.only)] = True
            allowed &= keep
        drop = self._positions(criteria.exclude) if criteria.exclude else None
        if drop is not None:
            allowed[drop] = False
        extra = self._positions(excluded)
        if extra.shape[0]:
            allowed[extra] = False
        return allowed

    def _positions(self, movie_ids: Iterable[int]) -> npt.NDArray[np.intp]:
        # Item indices of the movie ids the model has (the others are not rankable anyway).
        ids = np.fromiter(movie_ids, dtype=np.int64)
        if ids.shape[0] == 0:
            return np.zeros(0, dtype=np.intp)
        found = lookup(self.item_ids, ids)
        return found[found >= 0].astype(np.intp, copy=False)


def _any_bit(bits: Bits, wanted: Bits) -> BoolArray:
    # Items sharing at least one bit with ``wanted``.
    out: BoolArray = np.any((bits & wanted[None, :]) != 0, axis=1)
    return out
