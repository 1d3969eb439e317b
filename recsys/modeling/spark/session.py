"""Start Spark for a training run, or say exactly what is missing (pyspark, Java)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
INSTALL_HINT = "uv sync --frozen --inexact --group spark (or: pip install 'pyspark>=4.0' pyarrow)"
# Spark 4 runs on Java 17 or 21.
MIN_JAVA = 17
# The JVM's heap is fixed when it starts: bounded by default, so a training job on a shared
# machine cannot grow into everyone's memory (executors' memory, on a cluster, is the cluster's
# own spark.executor.memory). The UI is off (its port 4040+ would collide with
# other jobs on the host) unless asked for.
DEFAULT_CONF: Mapping[str, str] = {
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    # Spark's console bars interleave with our own stage lines; the job prints its stages.
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# Local mode only: the driver is this process, reachable on loopback (no hostname lookup).
LOCAL_CONF: Mapping[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


class SparkUnavailableError(RuntimeError):
    """pyspark or a suitable Java runtime is missing; the message says what to install."""


def check_spark_available(env: Mapping[str, str] | None = None) -> str:
    """pyspark's version when pyspark and Java >= 17 are there, else ``SparkUnavailableError``."""
    try:
        import pyarrow  # noqa: F401
        from pyspark import __version__
    except ImportError as exc:
        raise SparkUnavailableError(
            f"--engine spark needs pyspark and pyarrow ({exc.name or exc} is not installed): "
            f"{INSTALL_HINT}"
        ) from None
    check_java(os.environ if env is None else env)
    return str(__version__)


def check_java(env: Mapping[str, str]) -> int:
    """The major version of the Java pyspark will launch (JAVA_HOME's, else PATH's)."""
    home = env.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java", path=env.get("PATH"))
    where = f"JAVA_HOME={home}" if home else "PATH"
    if not java or not os.access(java, os.X_OK):
        raise SparkUnavailableError(
            f"--engine spark needs Java {MIN_JAVA}+, and there is no java on {where}: install "
            f"a JDK or JRE {MIN_JAVA} (e.g. apt-get install openjdk-{MIN_JAVA}-jre-headless) "
            "or point JAVA_HOME at one"
        )
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SparkUnavailableError(f"--engine spark: {java} -version failed: {exc}") from exc
    found = _JAVA_VERSION.search(done.stderr + done.stdout)
    if found is None:
        raise SparkUnavailableError(f"--engine spark: cannot tell the version of {java}")
    # Java 8 reports "1.8.0_392".
    major = int(found.group(2) or 0) if found.group(1) == "1" else int(found.group(1))
    if major < MIN_JAVA:
        raise SparkUnavailableError(
            f"--engine spark needs Java {MIN_JAVA}+, {java} is Java {major}: install Java "
            f"{MIN_JAVA} or point JAVA_HOME at it"
        )
    return major


def session_conf(master: str, conf: Mapping[str, str]) -> dict[str, str]:
    """Our defaults, then ``conf`` on top (what RECSYS_SPARK_CONF and --spark-conf give)."""
    merged = dict(DEFAULT_CONF)
    if master.startswith("local"):
        merged.update(LOCAL_CONF)
    merged.update(conf)
    return merged


@contextmanager
def spark_session(
    master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A SparkSession for one training run, stopped (its JVM with it) at the end.

    A session already running in this process (a notebook's, the tests' shared one) is used as
    it is and left running: Spark allows one per process, and ``master`` cannot change it.
    """
    check_spark_available()
    from pyspark.sql import SparkSession

    # getActiveSession is per thread; the instantiated one is the process's (what getOrCreate
    # would return, and what stopping would stop for everyone).
    active = SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)
    if active is not None:
        yield active
        return
    session = start_session(master, conf or {})
    try:
        yield session
    finally:
        session.stop()


def start_session(master: str, conf: Mapping[str, str]) -> SparkSession:
    """A new (or this process's running) SparkSession on ``master`` with ``session_conf``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("recsys-train-als")
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
