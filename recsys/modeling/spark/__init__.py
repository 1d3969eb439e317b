"""ALS fitted on Apache Spark (pyspark MLlib), stored as an ordinary ``als`` artifact.

``mapping`` turns our (implicit's) ALS parameters into Spark's, ``export`` writes the weighted
interactions to Parquet once, ``session`` starts Spark (or says what is missing), ``fit`` runs
``pyspark.ml.recommendation.ALS`` and ``model`` wraps it all as an ``ALSRecommender`` whose
saved state is the implicit path's, so everything that serves ALS serves it unchanged.
pyspark is imported only inside the functions that need it: the default install has none.
"""

from recsys.modeling.spark.mapping import SparkALSParams, map_params
from recsys.modeling.spark.session import SparkUnavailableError, check_spark_available

__all__ = ["SparkALSParams", "SparkUnavailableError", "check_spark_available", "map_params"]
