"""What the latent-factor models (als, bpr, svd) share: cosine over item factors."""

from __future__ import annotations

import numpy as np

from recsys.modeling.dataset import FloatArray


def cosine_to(factors: FloatArray, item_index: int) -> FloatArray:
    """Cosine of every row of ``factors`` with row ``item_index`` (implicit's similar_items)."""
    norms = np.linalg.norm(factors, axis=1)
    norms[norms == 0] = 1e-10
    scores = (factors @ factors[item_index]) / (norms * norms[item_index])
    return np.asarray(scores, dtype=np.float32)
