"""manifest.json: what a model version is, what it was trained on, and the hash of every file."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from recsys.modeling.errors import ArtifactCorruptError, ArtifactIncompatibleError

# Bump when the layout or the meaning of a file changes; loaders refuse any other value.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
LATEST_NAME = "LATEST"
# Fixed width, so lexicographic order is time order.
_VERSION_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")


@dataclass(frozen=True)
class FileEntry:
    """Size and sha256 of one stored file."""

    sha256: str
    # Written as "bytes" in manifest.json.
    size: int

    @classmethod
    def of(cls, data: bytes) -> FileEntry:
        """Entry describing ``data``."""
        return cls(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


@dataclass(frozen=True)
class Manifest:
    """Parsed manifest.json of one model version."""

    model_type: str
    version: str
    created_at: str
    params: dict[str, Any]
    data: dict[str, Any]
    files: dict[str, FileEntry]
    libraries: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        """Stable, human-readable JSON bytes."""
        doc = {
            "format_version": self.format_version,
            "model_type": self.model_type,
            "version": self.version,
            "created_at": self.created_at,
            "params": self.params,
            "data": self.data,
            "vocab": {"n_users": self.data.get("n_users"), "n_items": self.data.get("n_items")},
            "libraries": self.libraries,
            "files": {
                name: {"sha256": e.sha256, "bytes": e.size} for name, e in self.files.items()
            },
            "metrics": self.metrics,
            "training": self.training,
        }
        return (json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, *, where: str) -> Manifest:
        """Parse and check a manifest; ``where`` names the file in errors."""
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactCorruptError(
                f"{where}: not valid JSON ({exc})", reason="manifest unreadable"
            ) from exc
        if not isinstance(doc, dict):
            raise ArtifactCorruptError(
                f"{where}: expected a JSON object", reason="manifest unreadable"
            )
        found = doc.get("format_version")
        if found != FORMAT_VERSION:
            raise ArtifactIncompatibleError(
                f"{where}: format_version {found!r} is not supported (this recsys reads "
                f"format_version {FORMAT_VERSION}); retrain with this version of recsys",
                reason="format version not supported",
            )
        try:
            files = {
                str(name): FileEntry(sha256=str(e["sha256"]), size=int(e["bytes"]))
                for name, e in _get(doc, "files", dict, where).items()
            }
            return cls(
                model_type=_get(doc, "model_type", str, where),
                version=_get(doc, "version", str, where),
                created_at=_get(doc, "created_at", str, where),
                params=_get(doc, "params", dict, where),
                data=_get(doc, "data", dict, where),
                files=files,
                libraries=doc.get("libraries") or {},
                metrics=doc.get("metrics") or {},
                training=doc.get("training") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ArtifactCorruptError):
                raise
            raise ArtifactCorruptError(
                f"{where}: malformed files entry ({exc!r})", reason="manifest unreadable"
            ) from exc


def _get(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ArtifactCorruptError(
            f"{where}: key {key!r} must be a {kind.__name__}, got {type(value).__name__}",
            reason="manifest unreadable",
        )
    return value


def new_version(now: datetime | None = None) -> str:
    """A new version id sortable by creation time, e.g. ``20261123T121314.123456Z-1a2b3c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(3)


def is_version(text: str) -> bool:
    """True if ``text`` has the shape of a version id (guards keys built from LATEST)."""
    return bool(_VERSION_RE.match(text))


def library_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour a saved model depends on."""
    found = {"python": platform.python_version()}
    for name in ("recsys", "implicit", "numpy", "scipy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found
