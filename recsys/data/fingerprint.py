"""A content fingerprint of a set of ratings that does not depend on row order."""

from __future__ import annotations

import hashlib

import numpy as np

from recsys.data.frames import Interactions

# Bump when the hashed layout changes, so old and new fingerprints never compare equal by accident.
_LAYOUT = b"recsys-interactions-v1"


def interactions_fingerprint(interactions: Interactions) -> str:
    """``sha256:<hex>`` of the ratings sorted by (user_id, movie_id): same rows, any order.

    The seed records it and every model manifest carries it, so a model can be traced to the
    exact data it was trained on.
    """
    order = np.lexsort((interactions.movie_ids, interactions.user_ids))
    digest = hashlib.sha256(_LAYOUT)
    for column, dtype in (
        (interactions.user_ids, "<i8"),
        (interactions.movie_ids, "<i8"),
        (interactions.ratings, "<f4"),
        (interactions.timestamps, "<i8"),
    ):
        digest.update(np.ascontiguousarray(column[order], dtype=dtype).tobytes())
    return "sha256:" + digest.hexdigest()
