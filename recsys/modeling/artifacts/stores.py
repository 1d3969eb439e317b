"""Where artifact bytes live: a local directory or a GCS bucket, behind one small protocol.

Keys are relative, ``/``-separated paths such as
``als/20261123T121314.000000Z-1a2b3c/manifest.json``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from recsys.modeling.errors import ObjectNotFoundError

if TYPE_CHECKING:
    from google.cloud.storage import Client

# Local writes go to a temp file next to the target first; listings skip these names.
_TMP_PREFIX = ".tmp-"
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@runtime_checkable
class ArtifactStore(Protocol):
    """Minimal object store: whole-object reads and writes under relative keys."""

    @property
    def uri(self) -> str:
        """Where the store lives (``file:///abs`` or ``gs://bucket/prefix``)."""
        ...

    def url_for(self, key: str) -> str:
        """Full URI of ``key``."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write an object; readers see the old or the new bytes, never a mix."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read an object; ``ObjectNotFoundError`` if absent."""
        ...

    def exists(self, key: str) -> bool:
        """True if an object is stored under ``key``."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (a folder, e.g. ``"als/"``), recursively, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``ValueError``."""
    parts = key.split("/")
    if not key or any(
        p in ("", ".", "..") or not _SEGMENT.match(p) or p.startswith(_TMP_PREFIX) for p in parts
    ):
        raise ValueError(
            f"invalid artifact key {key!r}: use '/'-separated names of letters, digits, '._-'"
        )
    return key


def _check_prefix(prefix: str) -> str:
    if prefix and not prefix.endswith("/"):
        raise ValueError(f"list prefix must be empty or end with '/', got {prefix!r}")
    if prefix:
        check_key(prefix.rstrip("/"))
    return prefix


class LocalArtifactStore:
    """A directory; writes are atomic (temp file in the same folder, then ``os.replace``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    @property
    def uri(self) -> str:
        """``file:///abs/path`` of the root."""
        return self.root.as_uri()

    def url_for(self, key: str) -> str:
        """``file:///abs/path/key``."""
        return self._path(key).as_uri()

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write atomically (fsynced temp file + rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        """Read a file; ``ObjectNotFoundError`` if absent."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(key, store=self.uri) from None

    def exists(self, key: str) -> bool:
        """True if a file is stored under ``key``."""
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, recursively, sorted; temp files are skipped."""
        base = self.root / _check_prefix(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        keys = [
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(_TMP_PREFIX)
        ]
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Remove a file and any folders it leaves empty (up to the root)."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))


class GCSArtifactStore:
    """Objects under ``gs://bucket/prefix`` via google-cloud-storage (single-object writes
    are atomic in GCS). ``client`` defaults to ``storage.Client()`` (application default
    credentials, or the emulator when ``STORAGE_EMULATOR_HOST`` is set)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Client | None = None) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid GCS bucket name {bucket!r}")
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        if client is None:
            from google.cloud import storage

            client = storage.Client()
        self._client = client
        self._bucket: Any = client.bucket(bucket)

    def __repr__(self) -> str:
        return f"GCSArtifactStore({self.uri!r})"

    @property
    def uri(self) -> str:
        """``gs://bucket/prefix``."""
        return f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")

    def url_for(self, key: str) -> str:
        """``gs://bucket/prefix/key``."""
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload one object."""
        blob = self._bucket.blob(self._name(key))
        blob.upload_from_string(data, content_type="application/octet-stream")

    def get_bytes(self, key: str) -> bytes:
        """Download one object; ``ObjectNotFoundError`` if absent."""
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self._bucket.blob(self._name(key)).download_as_bytes())
        except NotFound:
            raise ObjectNotFoundError(key, store=self.uri) from None

    def exists(self, key: str) -> bool:
        """True if the object exists."""
        return bool(self._bucket.blob(self._name(key)).exists())

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, recursively, sorted."""
        start = self._name(_check_prefix(prefix).rstrip("/")) + "/" if prefix else self._root()
        skip = len(self._root())
        blobs = self._client.list_blobs(self.bucket_name, prefix=start)
        return sorted(blob.name[skip:] for blob in blobs)

    def delete(self, key: str) -> None:
        """Delete the object; a missing one is not an error."""
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self._bucket.blob(self._name(key)).delete()

    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def _name(self, key: str) -> str:
        return self._root() + check_key(key)


def open_store(uri: str, *, client: Client | None = None) -> ArtifactStore:
    """Store for ``file:///abs/path``, a plain (relative or absolute) path, or ``gs://bucket/prefix``."""
    parsed = urlparse(uri)
    if parsed.scheme == "gs":
        if not parsed.netloc:
            raise ValueError(f"artifact URI {uri!r} names no bucket: use gs://bucket/prefix")
        return GCSArtifactStore(parsed.netloc, parsed.path, client=client)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(
                f"artifact URI {uri!r} has host {parsed.netloc!r}: use file:///absolute/path"
            )
        return LocalArtifactStore(Path(unquote(parsed.path)))
    # One-letter schemes are Windows drive letters, i.e. plain paths.
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(
            f"unsupported artifact URI scheme {parsed.scheme!r} in {uri!r}; "
            "use file:///abs/path, a local path, or gs://bucket/prefix"
        )
    if not uri:
        raise ValueError("artifact URI is empty")
    return LocalArtifactStore(Path(uri))
