# Every target is one command a person could type by hand. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV ?= uv
RUN := $(UV) run
dataset ?= ml-100k
model_type ?= als
user_id ?= 1
k ?= 10
bucket_name ?=
revision ?=

.PHONY: help install data migrate db-upgrade db-downgrade db-current demo lint format test test-fast \
	train-cli predict-cli bench-seed clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

install: ## Install the locked dependencies into .venv (uv sync --frozen)
	$(UV) sync --frozen

data: install ## Fetch a dataset into ./data (dataset=ml-100k|ml-1m|ml-latest-small|ml-20m|ml-25m|ml-32m)
	$(RUN) recsys data fetch $(dataset)

migrate: db-upgrade ## Alias of db-upgrade

db-upgrade: install ## Create the schema and seed the configured dataset (alembic upgrade head)
	$(RUN) recsys db upgrade $(or $(revision),head)

db-downgrade: install ## Roll back one revision (revision=base for everything)
	$(RUN) recsys db downgrade $(or $(revision),-1)

db-current: install ## Show the database's current revision
	$(RUN) recsys db current

demo: data db-upgrade ## Everything, on the embedded defaults: data, migrations (training and API arrive with #3/#4)
	@echo "Database ready. Training (make train-cli) and the API (make api) arrive with the next issues."

lint: install ## ruff (lint + format check) and mypy (strict)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: lint ## Lint, then the whole test suite (needs PostgreSQL; TEST_DATABASE_URL to override)
	$(RUN) pytest

test-fast: install ## The test suite without lint
	$(RUN) pytest

train-cli: install ## Train a model into the artifact store (model_type=als|item_knn|popularity [bucket_name=B])
	$(RUN) recsys train --model-type $(model_type) $(if $(bucket_name),--bucket-name $(bucket_name))

predict-cli: install ## Print a user's top-k with titles (user_id=1 model_type=als k=10 [bucket_name=B])
	$(RUN) recsys predict $(user_id) --model-type $(model_type) -k $(k) $(if $(bucket_name),--bucket-name $(bucket_name))

bench-seed: install ## Benchmark: seed migration vs raw COPY, 1M synthetic ratings into PostgreSQL
	$(RUN) python benchmarks/seed.py

clean: ## Remove local state (./var, ./artifacts) but keep fetched data
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
