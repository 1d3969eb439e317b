"""Put a dataset under ``DATA_DIR/NAME/``: download + verify + extract, atomically.

Sources, in order: ``--from PATH`` (a zip, a folder or the RecBole wheel), else GroupLens (pinned
SHA-256, see registry.py). ML-100K has an offline source too, used with ``--offline`` or when
GroupLens cannot be reached: the copy inside RecBole's wheel, fetched from the package index.
A dataset folder only ever appears complete: files are staged in a hidden sibling folder and
renamed into place.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from recsys.data.frames import DatasetError
from recsys.data.loader import detect_layout
from recsys.data.registry import (
    RECBOLE_ML100K_MEMBERS,
    RECBOLE_REQUIREMENT,
    RECBOLE_WHEEL,
    RECBOLE_WHEEL_SHA256,
    REGISTRY,
    RemoteDataset,
)

WHEEL_ENV = "RECSYS_RECBOLE_WHEEL"
OFFLINE_NAME = "ml-100k"
# GroupLens is either there or not; a short timeout keeps the offline fallback quick.
DEFAULT_TIMEOUT = 10.0
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A dataset could not be obtained or failed verification; the message says what to do."""


@dataclass(frozen=True)
class FetchResult:
    """Where the dataset now is, which source it came from and a one-line summary."""

    name: str
    path: Path
    source: str  # "present", "grouplens", "recbole-wheel", "local-zip", "local-dir"
    message: str


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_present(folder: Path) -> bool:
    """True when ``folder`` already holds a dataset in a layout load_dataset reads."""
    return folder.is_dir() and detect_layout(folder) is not None


def fetch_dataset(
    name: str,
    *,
    data_dir: Path,
    source: Path | None = None,
    force: bool = False,
    offline: bool = False,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    console: Console | None = None,
) -> FetchResult:
    """Fetch dataset ``name`` into ``data_dir/name`` (a no-op when present, unless ``force``)."""
    console = console or Console(stderr=True)
    target = data_dir / name
    if is_present(target) and not force:
        return FetchResult(
            name, target, "present", f"{name} is already in {target} (use --force to fetch again)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    if source is not None:
        return _from_local(name, source, target=target, verify=verify)
    if name == OFFLINE_NAME and offline:
        note = f"--offline: ML-100K from the {RECBOLE_REQUIREMENT} wheel."
        return _from_recbole(target, wheel=None, verify=verify, console=console, note=note)
    remote = REGISTRY.get(name)
    if remote is None:
        known = ", ".join(REGISTRY)
        raise FetchError(f"unknown dataset {name!r}: known are {known}; or pass --from PATH")
    if offline:
        raise FetchError(
            f"{name} has no offline source (only {OFFLINE_NAME} has); "
            f"download {remote.url} elsewhere and pass --from path/to/{name}.zip"
        )
    try:
        archive = _download(remote, data_dir=data_dir, timeout=timeout, console=console)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if name != OFFLINE_NAME:
            raise FetchError(
                f"cannot download {remote.url}: {reason}; download it elsewhere and run "
                f"`recsys data fetch {name} --from path/to/{name}.zip`"
            ) from exc
        note = (
            f"GroupLens unreachable ({reason}): fell back to the offline copy of ML-100K "
            f"in the {RECBOLE_REQUIREMENT} wheel."
        )
        return _from_recbole(target, wheel=None, verify=verify, console=console, note=note)
    try:
        if verify:
            _check_hash(archive, remote.sha256, what=remote.url)
        _install_zip(archive, target)
    finally:
        archive.unlink(missing_ok=True)
    return FetchResult(name, target, "grouplens", f"{name}: verified and extracted to {target}")


def _from_local(name: str, source: Path, *, target: Path, verify: bool) -> FetchResult:
    if not source.exists():
        raise FetchError(f"--from {source}: no such file or folder")
    if source.is_dir():
        with _staging(target) as staging:
            shutil.copytree(source, staging, dirs_exist_ok=True)
            _finish(staging, target, origin=source)
        return FetchResult(name, target, "local-dir", f"{name}: copied {source} to {target}")
    if source.suffix == ".whl":
        if name != OFFLINE_NAME:
            raise FetchError(f"the RecBole wheel holds {OFFLINE_NAME} only, not {name}")
        return _from_recbole(target, wheel=source, verify=verify, console=None, note=None)
    if not zipfile.is_zipfile(source):
        raise FetchError(f"--from {source}: not a zip archive, wheel or folder")
    remote = REGISTRY.get(name)
    if verify and remote is not None:
        _check_hash(source, remote.sha256, what=str(source))
    _install_zip(source, target)
    checked = "verified and " if verify and remote is not None else ""
    summary = f"{name}: {checked}extracted {source} to {target}"
    return FetchResult(name, target, "local-zip", summary)


def _check_hash(path: Path, expected: str, *, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise FetchError(
            f"{what}: SHA-256 {actual} does not match the pinned {expected}; the file is corrupt "
            "or a different release (pass --no-verify to accept it anyway)"
        )


def _download(remote: RemoteDataset, *, data_dir: Path, timeout: float, console: Console) -> Path:
    """Stream the archive to a temporary file beside its destination; return its path."""
    handle, name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".zip.part", dir=data_dir)
    part = Path(name)
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(remote.url, timeout=timeout) as response,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress,
        ):
            total = int(response.headers.get("Content-Length") or remote.size)
            task = progress.add_task(f"{remote.name}.zip", total=total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                progress.advance(task, len(chunk))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target``, removed unless it was renamed into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A hidden staging folder that replaces ``target`` (by renames) when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staging(target) as staging:
        yield staging
        _finish(staging, target, origin=staging)


def _finish(staging: Path, target: Path, *, origin: Path) -> None:
    """Check the staged layout, then swap it in for ``target`` with renames."""
    root = staging
    children = [c for c in staging.iterdir() if not c.name.startswith((".", "__MACOSX"))]
    # GroupLens zips hold one top-level folder (ml-100k/...): its content is the dataset.
    if detect_layout(staging) is None and len(children) == 1 and children[0].is_dir():
        root = children[0]
    if detect_layout(root) is None:
        raise DatasetError(
            "no dataset inside: expected u.data, ratings.dat, ratings.csv or NAME.inter",
            path=origin,
        )
    # mkdtemp made the staging folder private (0700); the dataset folder is an ordinary one.
    root.chmod(0o755)
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    root.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _install_zip(archive: Path, target: Path) -> None:
    with _staging(target) as staging:
        try:
            with zipfile.ZipFile(archive) as zipped:
                # extractall refuses absolute paths and '..' members (no zip-slip).
                zipped.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{archive}: not a valid zip archive ({exc})") from exc
        _finish(staging, target, origin=archive)


def _from_recbole(
    target: Path, *, wheel: Path | None, verify: bool, console: Console | None, note: str | None
) -> FetchResult:
    """Extract ML-100K's atomic files from the RecBole wheel (downloaded when not given)."""
    if console is not None and note is not None:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    wheel = wheel or _wheel_from_env()
    if wheel is not None:
        _extract_recbole(wheel, target, verify=verify)
        return FetchResult(
            target.name,
            target,
            "recbole-wheel",
            f"{target.name}: extracted from {wheel} to {target}",
        )
    with tempfile.TemporaryDirectory(prefix=".recbole.", dir=target.parent) as tmp:
        downloaded = download_recbole_wheel(Path(tmp))
        _extract_recbole(downloaded, target, verify=verify)
    return FetchResult(
        target.name,
        target,
        "recbole-wheel",
        f"{target.name}: extracted from the {RECBOLE_REQUIREMENT} wheel to {target}",
    )


def _wheel_from_env() -> Path | None:
    value = os.environ.get(WHEEL_ENV)
    if not value:
        return None
    wheel = Path(value)
    if not wheel.is_file():
        raise FetchError(f"{WHEEL_ENV}={value}: no such file")
    return wheel


def _extract_recbole(wheel: Path, target: Path, *, verify: bool) -> None:
    if verify:
        _check_hash(wheel, RECBOLE_WHEEL_SHA256, what=str(wheel))
    with _staging(target) as staging:
        try:
            with zipfile.ZipFile(wheel) as zipped:
                for member in RECBOLE_ML100K_MEMBERS:
                    try:
                        data = zipped.read(member)
                    except KeyError as exc:
                        raise FetchError(f"{wheel}: has no {member}") from exc
                    (staging / Path(member).name).write_bytes(data)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{wheel}: not a valid wheel ({exc})") from exc
        _finish(staging, target, origin=wheel)


def _pip_download_command(dest: Path) -> list[str]:
    args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        RECBOLE_REQUIREMENT,
    ]
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", *args]
    # A uv-managed venv has no pip: run pip as a throwaway uv tool (it reads pip's index config).
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "tool", "run", "--from", "pip", "pip", *args]
    uvx = shutil.which("uvx")
    if uvx is not None:
        return [uvx, "--from", "pip", "pip", *args]
    raise FetchError(
        f"neither pip nor uv is available to download {RECBOLE_REQUIREMENT}; "
        f"set {WHEEL_ENV}=/path/to/{RECBOLE_WHEEL}"
    )


def download_recbole_wheel(dest: Path) -> Path:
    """Download the pinned RecBole wheel into ``dest`` with pip (or pip run by uv)."""
    command = _pip_download_command(dest)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"`{' '.join(command)}` failed: {exc}") from exc
    wheel = dest / RECBOLE_WHEEL
    if done.returncode != 0 or not wheel.is_file():
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise FetchError(
            f"could not download {RECBOLE_REQUIREMENT} from the package index: {tail or 'no wheel'}"
            f"; set {WHEEL_ENV}=/path/to/{RECBOLE_WHEEL} to use a copy"
        )
    return wheel
