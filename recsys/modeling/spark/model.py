"""ALSRecommender fitted on Spark: its state, and so its artifact, is implicit ALS's."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recsys.modeling.als import ALSParams, ALSRecommender
from recsys.modeling.artifacts.stores import ArtifactStore
from recsys.modeling.dataset import InteractionMatrix
from recsys.modeling.spark.export import Export, export_matrix, remove_folder
from recsys.modeling.spark.fit import fit_factors
from recsys.modeling.spark.mapping import SparkALSParams, map_params

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class SparkRun:
    """What one Spark fit did: the mapped parameters, the export and each step's seconds."""

    params: SparkALSParams
    export: Export
    master: str
    spark_version: str
    export_seconds: float
    fit_seconds: float
    conf: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``training.spark``."""
        return {
            "version": self.spark_version,
            "master": self.master,
            "params": self.params.to_dict(),
            "conf": dict(self.conf),
            "export": self.export.to_dict(),
            "export_seconds": round(self.export_seconds, 3),
            "fit_seconds": round(self.fit_seconds, 3),
        }


class SparkALSRecommender(ALSRecommender):
    """``fit`` exports the matrix to Parquet in ``store`` and runs Spark's ALS on it.

    Everything else (scoring, fold-in, similar items, ``to_state``) is ALSRecommender's, and
    ``model_type`` stays ``als``: the saved version loads as a plain ALSRecommender.
    """

    def __init__(
        self,
        params: ALSParams | None = None,
        *,
        session: SparkSession,
        store: ArtifactStore,
        export_folder: str,
        keep_export: bool = False,
        conf: dict[str, str] | None = None,
        stage: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(params)
        self._session = session
        self._store = store
        self._folder = export_folder
        self._keep_export = keep_export
        self._conf = dict(conf or {})
        self._say = stage or (lambda _message: None)
        self.run: SparkRun | None = None

    def _fit(self, matrix: InteractionMatrix) -> None:
        n_users, n_items = matrix.shape
        # Spark's default of 10 blocks a side is 10 tasks a stage: on local[2] and small data
        # the tasks' overhead is the fit's time. One block per core, at most 10.
        blocks = max(1, min(10, self._session.sparkContext.defaultParallelism))
        spark_params = map_params(
            self.params, n_users=n_users, n_items=n_items, nnz=matrix.nnz, blocks=blocks
        )
        started = time.perf_counter()
        self._say(f"exporting {matrix.nnz:,} interactions to Parquet under {self._store.uri}")
        export = export_matrix(matrix, self._store, f"{self._folder}/interactions")
        exported = time.perf_counter()
        master = str(self._session.sparkContext.master)
        self._say(
            f"fitting ALS on Spark {self._session.version} ({master}): rank {spark_params.rank}, "
            f"{spark_params.maxIter} iterations, regParam {spark_params.regParam:.3g}"
        )
        try:
            users, items = fit_factors(
                self._session,
                export.uri,
                spark_params,
                n_users=n_users,
                n_items=n_items,
                checkpoint_uri=self._store.url_for(f"{self._folder}/checkpoints"),
            )
        finally:
            if not self._keep_export:
                remove_folder(self._store, self._folder)
        self._set_factors(users, items)
        self.run = SparkRun(
            params=spark_params,
            export=export,
            master=master,
            spark_version=self._session.version,
            export_seconds=exported - started,
            fit_seconds=time.perf_counter() - exported,
            conf=self._conf,
        )
