"""The weighted interaction matrix -> Parquet files in a store, for Spark's executors to read.

One row per (user, movie): ``user`` and ``item`` are the matrix's row and column (int32, what
Spark's ALS takes; our ids stay in the artifact's vocabularies, so database ids need not fit
in an int), ``weight`` the value ``recsys train`` gives implicit (the model's weighting of the
summed ratings and events). Written through the ArtifactStore protocol, so the same code puts
the files in a local folder or under a GCS bucket; a Parquet file is one object.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np

from recsys.modeling.artifacts.stores import ArtifactStore
from recsys.modeling.dataset import InteractionMatrix

# Rows per Parquet file: 12 bytes a row, ~24 MB a file before compression; several files let
# executors read in parallel without a file per core on small data.
ROWS_PER_FILE = 2_000_000
COLUMNS = ("user", "item", "weight")


@dataclass(frozen=True)
class Export:
    """Where an export went and what it holds."""

    folder: str  # key prefix in the store, no trailing slash
    uri: str  # what Spark reads: file:///... or gs://...
    rows: int
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (the manifest's ``training.spark.export``)."""
        return {"uri": self.uri, "rows": self.rows, "sha256": dict(self.files)}


def export_matrix(
    matrix: InteractionMatrix,
    store: ArtifactStore,
    folder: str,
    *,
    rows_per_file: int = ROWS_PER_FILE,
) -> Export:
    """Write ``matrix``'s entries as ``folder/part-NNNNN.parquet`` files in ``store``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csr = matrix.user_items
    users = np.repeat(np.arange(csr.shape[0], dtype=np.int32), np.diff(csr.indptr))
    items = csr.indices.astype(np.int32, copy=False)
    weights = csr.data.astype(np.float32, copy=False)
    files: dict[str, str] = {}
    for part, start in enumerate(range(0, max(csr.nnz, 1), rows_per_file)):
        stop = min(start + rows_per_file, csr.nnz)
        table = pa.table(
            {
                "user": pa.array(users[start:stop]),
                "item": pa.array(items[start:stop]),
                "weight": pa.array(weights[start:stop]),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="snappy")
        data = buffer.getvalue()
        name = f"part-{part:05d}.parquet"
        store.put_bytes(f"{folder}/{name}", data)
        files[name] = hashlib.sha256(data).hexdigest()
    return Export(folder=folder, uri=store.url_for(folder), rows=int(csr.nnz), files=files)


def remove_folder(store: ArtifactStore, folder: str) -> None:
    """Delete every object under ``folder`` (the export and Spark's checkpoints)."""
    for key in store.list(folder + "/"):
        store.delete(key)
