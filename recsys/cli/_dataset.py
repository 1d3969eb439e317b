"""What the offline commands (tune, simulate) share: the dataset's ratings as column arrays."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys.cli._common import fail, load_settings

if TYPE_CHECKING:
    from recsys.service.datasets import Interactions

DatasetOption = Annotated[
    str | None,
    typer.Option(
        "--dataset", "-d", help="Dataset folder under --data-dir (default: RECSYS_DATASET)."
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Where datasets live (default: RECSYS_DATA_DIR).")
]


def load_interactions(dataset: str | None, data_dir: Path | None) -> tuple[str, Interactions]:
    """The dataset's name and ratings; a missing or malformed dataset is one error line."""
    # Imported here, not at the top: pandas and the evaluation package are slow to import.
    from recsys.service import datasets

    settings = load_settings()
    name = dataset or settings.dataset
    folder = (data_dir or settings.data_dir) / name
    try:
        return name, datasets.load_interactions(folder, name=name)
    except (datasets.DatasetNotFoundError, datasets.DatasetError) as exc:
        fail(str(exc))
