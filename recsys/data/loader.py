"""Detect a dataset folder's layout, parse it into canonical frames and validate it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from recsys.data.frames import Dataset, DatasetError, DatasetNotFoundError
from recsys.data.movielens import load_csv_family, load_ml1m, load_ml100k
from recsys.data.recbole import find_inter, load_recbole
from recsys.data.validate import validate


class Layout(StrEnum):
    """The on-disk layouts load_dataset understands."""

    ML100K = "ml-100k"  # u.data, u.item, u.user
    ML1M = "ml-1m"  # ratings.dat, movies.dat[, users.dat]
    CSV = "csv"  # ratings.csv, movies.csv[, users.csv]
    RECBOLE = "recbole"  # NAME.inter, NAME.item[, NAME.user]


_PARSERS: dict[Layout, Callable[..., Dataset]] = {
    Layout.ML100K: load_ml100k,
    Layout.ML1M: load_ml1m,
    Layout.CSV: load_csv_family,
    Layout.RECBOLE: load_recbole,
}


def fetch_hint(name: str) -> str:
    """The command that puts dataset ``name`` on disk."""
    return f"run `recsys data fetch {name}` (or `make data dataset={name}`)"


def detect_layout(folder: Path) -> Layout | None:
    """The layout of ``folder`` by its marker file, or None when there is none."""
    if (folder / "u.data").is_file():
        return Layout.ML100K
    if (folder / "ratings.dat").is_file():
        return Layout.ML1M
    if (folder / "ratings.csv").is_file():
        return Layout.CSV
    if find_inter(folder) is not None:
        return Layout.RECBOLE
    return None


def dataset_root(folder: Path) -> tuple[Path, Layout] | None:
    """The folder holding the data files: ``folder`` or its single sub-folder (as zips unpack)."""
    layout = detect_layout(folder)
    if layout is not None:
        return folder, layout
    children = [child for child in folder.iterdir() if not child.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir():
        layout = detect_layout(children[0])
        if layout is not None:
            return children[0], layout
    return None


def load_dataset(path: Path, *, name: str | None = None) -> Dataset:
    """Parse and validate the dataset in folder ``path`` (any supported layout)."""
    path = Path(path)
    label = name or path.name
    if not path.is_dir() or not any(path.iterdir()):
        state = "is empty" if path.is_dir() else "does not exist"
        raise DatasetNotFoundError(f"dataset folder {path} {state}: {fetch_hint(label)}")
    found = dataset_root(path)
    if found is None:
        raise DatasetError(
            "no dataset here: expected u.data (MovieLens 100K), ratings.dat (1M/10M), "
            "ratings.csv (latest/20M/25M/32M) or NAME.inter (RecBole); " + fetch_hint(label),
            path=path,
        )
    root, layout = found
    return validate(_PARSERS[layout](root, name=label))
