"""A fitted model's state as named arrays per .npz file, and the checks that rebuild it.

``Recommender.to_state`` / ``from_state`` use these; the artifact store writes and reads the
files (``recsys.modeling.artifacts``). Nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.modeling.dataset import FittedWeighting, IdArray, Weighting
from recsys.modeling.errors import ModelStateError

Arrays = dict[str, npt.NDArray[Any]]
# File stem -> arrays in that .npz file.
StateArrays = dict[str, Arrays]
State = Mapping[str, Mapping[str, npt.NDArray[Any]]]


def require_arrays(state: State, name: str, keys: Sequence[str]) -> Mapping[str, npt.NDArray[Any]]:
    """The arrays of ``name``.npz; ``ModelStateError`` if the file or any of ``keys`` is missing."""
    arrays = state.get(name)
    if arrays is None:
        raise ModelStateError(f"{name}.npz is missing")
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise ModelStateError(f"{name}.npz lacks array(s) {', '.join(missing)}")
    return arrays


def vocab_state(user_ids: IdArray, item_ids: IdArray, weighting: FittedWeighting) -> StateArrays:
    """The vocabulary and weighting files every model's state carries."""
    return {
        "vocab": {"user_ids": user_ids, "item_ids": item_ids},
        "weighting": {"item_length_norm": weighting.item_length_norm},
    }


def restore_vocab(state: State) -> tuple[IdArray, IdArray]:
    """(user ids, item ids) from vocab.npz, checked sorted and unique."""
    vocab = require_arrays(state, "vocab", ("user_ids", "item_ids"))
    return _ids(vocab, "user_ids"), _ids(vocab, "item_ids")


def restore_weighting(
    data_info: Mapping[str, Any], state: State, *, n_items: int
) -> FittedWeighting:
    """The fitted weighting from the manifest's data info and weighting.npz."""
    if not isinstance(data_info.get("weighting"), Mapping):
        raise ModelStateError("data info lacks the 'weighting' the model was trained with")
    try:
        spec = Weighting.from_dict(dict(data_info["weighting"]))
    except (TypeError, ValueError) as exc:
        raise ModelStateError(f"bad weighting in data info: {exc}") from exc
    norm = require_arrays(state, "weighting", ("item_length_norm",))["item_length_norm"]
    weighting = FittedWeighting(spec, np.asarray(norm, dtype=np.float32))
    if spec.kind == "bm25" and norm.shape != (n_items,):
        raise ModelStateError(
            f"weighting.npz: item_length_norm has shape {norm.shape}, expected ({n_items},)"
        )
    return weighting


def _ids(arrays: Mapping[str, npt.NDArray[Any]], key: str) -> IdArray:
    ids = np.asarray(arrays[key])
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ModelStateError(f"vocab.npz: {key} must be a 1-D integer array, got {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.shape[0] > 1 and np.any(ids[1:] <= ids[:-1]):
        raise ModelStateError(f"vocab.npz: {key} must be sorted and unique")
    return ids
