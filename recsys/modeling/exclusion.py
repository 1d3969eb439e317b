"""Movies a request must never get, as sorted item indices of one model: applied before top-k.

Soft-deleted movies (recsys.service.catalog_state) reach the models this way: each model's
per-request path already drops the user's history (``HistoryRow.seen``) from its candidates
before the top-k cut, and the excluded indices join that set, so the answer still has k movies
whenever k others exist. A per-request eligibility mask (filters) can feed the same entry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import IdArray, IndexArray, lookup

NO_EXCLUSION: IndexArray = np.zeros(0, dtype=np.intp)


def excluded_index(item_ids: IdArray, movie_ids: npt.ArrayLike) -> IndexArray:
    """Sorted unique indices in ``item_ids`` of the ``movie_ids`` it holds (others ignored)."""
    ids = np.asarray(movie_ids, dtype=np.int64).ravel()
    if ids.shape[0] == 0 or item_ids.shape[0] == 0:
        return NO_EXCLUSION
    cols = lookup(item_ids, ids)
    return np.unique(cols[cols >= 0]).astype(np.intp, copy=False)


def join_seen(seen: IndexArray, exclude: IndexArray | None) -> IndexArray:
    """``seen`` (sorted unique) with ``exclude`` added, still sorted unique."""
    if exclude is None or exclude.shape[0] == 0:
        return seen
    if seen.shape[0] == 0:
        return exclude
    return np.union1d(seen, exclude).astype(np.intp, copy=False)


def ineligible_mask(n_items: int, exclude: IndexArray | None) -> npt.NDArray[np.bool_]:
    """The same exclusion as a boolean mask over the item index (True: never answered)."""
    mask = np.zeros(n_items, dtype=np.bool_)
    if exclude is not None and exclude.shape[0]:
        mask[exclude] = True
    return mask
