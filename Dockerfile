# syntax=docker/dockerfile:1
# First cut: the deployment issue (#6) hardens this (HEALTHCHECK, lint, non-root checks in CI).
FROM python:3.11-slim AS builder
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock .python-version README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY recsys ./recsys
COPY alembic.ini ./
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 recsys
WORKDIR /app
COPY --from=builder --chown=recsys:recsys /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER recsys
ENTRYPOINT ["recsys"]
CMD ["--help"]
