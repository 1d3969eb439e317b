"""Versioned model artifacts: ``{root}/{model_type}/{version}/`` and ``.../LATEST``."""

from recsys.modeling.artifacts.manifest import FORMAT_VERSION, FileEntry, Manifest, new_version
from recsys.modeling.artifacts.stores import (
    ArtifactStore,
    GCSArtifactStore,
    LocalArtifactStore,
    open_store,
)
from recsys.modeling.artifacts.versions import (
    ArtifactInfo,
    list_versions,
    load_model,
    prune,
    read_latest,
    read_manifest,
    save_model,
    set_latest,
)
from recsys.modeling.errors import (
    ArtifactCorruptError,
    ArtifactError,
    ArtifactIncompatibleError,
    ArtifactNotFoundError,
    ObjectNotFoundError,
)

__all__ = [
    "FORMAT_VERSION",
    "ArtifactCorruptError",
    "ArtifactError",
    "ArtifactIncompatibleError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "FileEntry",
    "GCSArtifactStore",
    "LocalArtifactStore",
    "Manifest",
    "ObjectNotFoundError",
    "list_versions",
    "load_model",
    "new_version",
    "open_store",
    "prune",
    "read_latest",
    "read_manifest",
    "save_model",
    "set_latest",
]
