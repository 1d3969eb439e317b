# syntax=docker/dockerfile:1
# One image, three entrypoints: `recsys serve` (api, the default), `recsys db upgrade` (migrate)
# and `recsys train` (training). Build: docker build --target runtime -t recsys .
# Variant for ALS on Spark (`recsys train --engine spark`, its driver and its executors): the
# same code plus the spark group and Java 17: docker build --target training-spark -t recsys-spark .

# --- builder: resolve the locked dependencies into /app/.venv, compiled to bytecode -------------
FROM python:3.11-slim-bookworm AS builder
# Pinned to the uv the lock was written with; pip is only used to bring uv in.
RUN pip install --no-cache-dir uv==0.13.9
# Bytecode compiled at build time: the runtime root filesystem is read-only, so Python could not
# write __pycache__ there anyway, and start-up is faster. Copy mode: the cache is not in the image.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
WORKDIR /app
# Dependencies first, in their own layer: a code change does not reinstall numpy and scipy.
COPY pyproject.toml uv.lock .python-version README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY alembic.ini ./
COPY recsys ./recsys
RUN uv sync --frozen --no-default-groups --no-editable

# --- spark venv: the runtime venv plus the optional spark group (pyspark, pyarrow) ---------------
FROM builder AS spark-builder
RUN uv sync --frozen --no-default-groups --group spark --no-editable

# --- notebook venv: the runtime venv plus JupyterLab, for the compose `jupyter` profile only -----
FROM builder AS notebook-builder
RUN uv pip install --python /app/.venv/bin/python "jupyterlab==4.6.6"

# --- notebook: JupyterLab on the same code (docker compose --profile notebook up jupyter) -------
FROM python:3.11-slim-bookworm AS notebook
RUN useradd --create-home --uid 10001 --user-group recsys
WORKDIR /app
COPY --from=notebook-builder --chown=recsys:recsys /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=2)"]
ENTRYPOINT ["jupyter", "lab"]
CMD ["--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/app/notebooks"]

# --- runtime: slim, non-root, no build tools, no uv ---------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
# A fixed high UID/GID: the Kubernetes manifests run as 10001 with runAsNonRoot.
RUN useradd --create-home --uid 10001 --user-group recsys
WORKDIR /app
COPY --from=builder --chown=recsys:recsys /app /app
# Logs as one JSON object a line (request id, route, status, latency, model) for the platform's
# log collector; RECSYS_LOG_FORMAT=text for a person reading `docker logs`.
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECSYS_DATA_DIR=/app/data \
    RECSYS_LOG_FORMAT=json
USER 10001
EXPOSE 8000
# Liveness only (/healthz): readiness (/readyz) needs the database and the models, which the
# orchestrator checks. Python's urllib because the slim image has no curl. migrate/train
# containers disable this check (docker compose) or ignore it (Kubernetes uses its own probes).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["recsys"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

# --- training-spark: the runtime plus Java 17 and pyspark, for the Spark training Job ----------
# One image for the driver (the CronJob's pod runs `recsys train --engine spark` in client mode)
# and the executor pods Spark starts from it (infra/spark/entrypoint.sh tells them apart).
FROM python:3.11-slim-bookworm AS training-spark
# The JRE only (no compiler); OpenBLAS lets Spark's solver use native BLAS instead of its Java
# fallback. Versions pinned to the Debian 12 series; a point release is a security fix.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless=17.0.* libopenblas0-pthread=0.3.* procps=2:4.0.* \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --user-group recsys
WORKDIR /app
COPY --from=spark-builder --chown=recsys:recsys /app /app
COPY --chmod=0755 infra/spark/entrypoint.sh /usr/local/bin/recsys-spark-entrypoint
ENV PATH="/app/.venv/bin:$PATH" \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECSYS_DATA_DIR=/app/data \
    RECSYS_LOG_FORMAT=json
USER 10001
# A batch image: no server to probe (Kubernetes Jobs have their own completion status).
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/recsys-spark-entrypoint"]
CMD ["train", "--model-type", "als", "--engine", "spark"]
