"""PyTorch is optional (it trains ``sasrec``): skip what needs it locally, fail under CI.

``.ci/run`` installs the CPU build before ``make test``, so under CI (``CI`` set) a missing
torch is a broken set-up and the tests that need it must fail, not vanish.
"""

from __future__ import annotations

import os

import pytest

from recsys.modeling.registry import missing_package

# The model types whose tests need torch (to fit; loading and scoring need none).
TORCH_MODEL_TYPES = frozenset({"sasrec"})


def torch_hint() -> str | None:
    """What to install when torch is missing, else None."""
    return missing_package("sasrec")


def require_torch() -> None:
    """Skip the calling test when torch is missing (fail instead under CI)."""
    hint = torch_hint()
    if hint is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must install torch: {hint}")
    pytest.skip(hint)
