"""Content similarity from what the catalogue says of a movie: genres, year and title words.

For movies no collaborative model has seen yet (item cold start): each movie is a sparse,
L2-normalised vector of its genres (weight 1 each), its decade (1) and the neighbouring
decades (0.5: a 1999 movie is close to a 2001 one), and its title words weighted by IDF (rare
words say more than "the"); similarity is the dot product (cosine). A user's content profile is
the sum of their history movies' vectors weighted by the sign of each interaction, so a
disliked movie counts against the movies like it. Built from the catalogue in memory, no
database here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.modeling.dataset import FloatArray, IdArray, IndexArray, lookup
from recsys.modeling.topk import top_k_candidates

_WORD = re.compile(r"[a-z0-9]+")
# Words too common in titles to say anything about a movie's content.
_STOP_WORDS = frozenset({"a", "an", "and", "of", "the", "in", "on", "to", "la", "le", "de"})
GENRE_WEIGHT = 1.0
DECADE_WEIGHT = 1.0
NEAR_DECADE_WEIGHT = 0.5
TITLE_WEIGHT = 1.0


def title_words(title: str) -> list[str]:
    """Lower-case words of a title, stop words out, each once."""
    return list(dict.fromkeys(w for w in _WORD.findall(title.lower()) if w not in _STOP_WORDS))


@dataclass(frozen=True)
class ContentIndex:
    """Content vectors of a catalogue: row i is movie ``movie_ids[i]`` (sorted)."""

    movie_ids: IdArray
    vectors: sp.csr_matrix

    @classmethod
    def build(
        cls,
        movie_ids: Sequence[int],
        titles: Sequence[str],
        years: Sequence[int | None],
        genres: Sequence[Sequence[str]],
    ) -> ContentIndex:
        """The index of these movies (any order; ids unique)."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        features: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        words = [title_words(titles[i]) for i in order]
        document_frequency: dict[str, int] = {}
        for ws in words:
            for w in ws:
                document_frequency[w] = document_frequency.get(w, 0) + 1
        n = max(len(order), 1)

        def add(row: int, feature: str, value: float) -> None:
            rows.append(row)
            cols.append(features.setdefault(feature, len(features)))
            values.append(value)

        for row, i in enumerate(order):
            for g in genres[i]:
                add(row, f"g:{g}", GENRE_WEIGHT)
            year = years[i]
            if year is not None:
                decade = int(year) // 10
                add(row, f"d:{decade}", DECADE_WEIGHT)
                add(row, f"d:{decade - 1}", NEAR_DECADE_WEIGHT)
                add(row, f"d:{decade + 1}", NEAR_DECADE_WEIGHT)
            for w in words[row]:
                # Words only this movie has say nothing about similarity: left out.
                if document_frequency[w] > 1:
                    add(row, f"w:{w}", TITLE_WEIGHT * float(np.log(n / document_frequency[w])))
        matrix = sp.csr_matrix(
            (np.asarray(values, np.float32), (rows, cols)),
            shape=(len(order), max(len(features), 1)),
        )
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix = sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)
        return cls(ids[order], matrix)

    def scores_for(self, movie_ids: IdArray, weights: FloatArray) -> FloatArray:
        """Per catalogue row: the ``weights``-weighted sum of the cosines to ``movie_ids``."""
        index = lookup(self.movie_ids, movie_ids)
        known = index >= 0
        if not known.any():
            return np.zeros(self.movie_ids.shape[0], dtype=np.float32)
        profile = self.vectors[index[known]].T @ np.asarray(weights, np.float32)[known]
        return np.asarray(self.vectors @ profile, dtype=np.float32).ravel()

    def top(self, scores: FloatArray, candidates: IndexArray, k: int) -> tuple[IdArray, FloatArray]:
        """The best ``k`` of ``candidates`` (row indices) by ``scores``, ties by lower id."""
        top, values = top_k_candidates(candidates, scores[candidates], k)
        return self.movie_ids[top], values
