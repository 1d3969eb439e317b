"""One SparkSession (local[2], bounded driver memory) for every Spark test of the session.

Starting the JVM costs seconds to minutes on a loaded machine: it is paid once. Without the
optional spark group (or Java) the tests are skipped with what to install; under CI (``CI``
set) that is a failure, since CI installs the group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from recsys.modeling.spark import SparkUnavailableError, check_spark_available

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Small enough to share the machine, large enough for ML-100K's factors.
TEST_CONF = {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2"}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The session's SparkSession on local[2]."""
    try:
        check_spark_available()
    except SparkUnavailableError as exc:
        message = f"{exc} (make install-spark)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from recsys.modeling.spark.session import start_session

    session = start_session("local[2]", TEST_CONF)
    yield session
    session.stop()
