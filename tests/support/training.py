"""Train a model straight from a test database into an artifact folder, as ``recsys train`` does."""

from __future__ import annotations

from pathlib import Path

from recsys.db.session import create_engine, create_session_factory
from recsys.events import EventWeights
from recsys.modeling.artifacts import LocalArtifactStore
from recsys.service.training import train
from recsys.settings import DEFAULT_EVENT_WEIGHTS


async def train_into(url: str, folder: Path, *model_types: str) -> Path:
    """Fit each of ``model_types`` (default: popularity; default parameters and weights) on
    ``url``'s data into ``folder``, one after the other."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    try:
        for model_type in model_types or ("popularity",):
            await train(
                sessions,
                weights=EventWeights(DEFAULT_EVENT_WEIGHTS),
                model_type=model_type,
                store=LocalArtifactStore(folder),
            )
    finally:
        await engine.dispose()
    return folder
