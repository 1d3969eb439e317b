# Every target is one command a person could type by hand. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV ?= uv
# --frozen everywhere and one set of groups ([tool.uv] default-groups in pyproject.toml): no
# target installs or removes what another one did.
RUN := $(UV) run --frozen
DATA_DIR := $(or $(RECSYS_DATA_DIR),data)
dataset ?= ml-100k
model_type ?= als
user_id ?= 1
k ?= 10
bucket_name ?=
revision ?=
protocol ?= leave-last-out
trials ?= 40
host ?= 127.0.0.1
port ?= 8000
workers ?=
retrain ?=
engine ?=

.PHONY: help install data migrate db-upgrade db-downgrade db-current demo lint format test test-fast \
	install-torch test-data train-cli predict-cli train-models api serve bench-seed bench-serve bench-train bench-train-spark bench-events bench-outage clean install-spark \
	lint-infra up down evaluate tune simulate-ab simulate-loop notebooks

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# --inexact: sync adds and updates the locked default groups but removes nothing, so an optional
# group installed on purpose (uv sync --frozen --inexact --group spark, or a local torch wheel)
# survives every target that depends on install.
install: ## Install the locked dependencies into .venv (uv sync --frozen --inexact; keeps optional groups)
	$(UV) sync --frozen --inexact

install-spark: ## Also install the optional spark group (pyspark, pyarrow) for recsys train --engine spark (needs Java 17)
	$(UV) sync --frozen --inexact --group spark

# torch is not in the lock: the index's default Linux build carries CUDA (GBs); sasrec trains on
# the CPU build, from a wheel file or PyTorch's CPU wheel index (README, "sasrec and PyTorch").
install-torch: install ## Add PyTorch for sasrec training (TORCH_WHEEL=path/to/torch-*+cpu*.whl or TORCH_INDEX=<CPU wheel index>)
	@if [ -z "$(TORCH_WHEEL)$(TORCH_INDEX)" ]; then echo "install-torch: set TORCH_WHEEL=path/to/torch-*+cpu*.whl or TORCH_INDEX=<PyTorch's CPU wheel index> (plain 'torch' from the package index is a multi-GB CUDA build)" >&2; exit 2; fi
	$(UV) pip install --compile-bytecode $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(or $(TORCH_WHEEL),torch)

data: install ## Fetch a dataset into ./data (dataset=ml-100k|ml-1m|ml-latest-small|ml-20m|ml-25m|ml-32m)
	$(RUN) recsys data fetch $(dataset)

migrate: db-upgrade ## Alias of db-upgrade

db-upgrade: install ## Create the schema and seed the configured dataset (alembic upgrade head)
	$(RUN) recsys db upgrade $(or $(revision),head)

db-downgrade: install ## Roll back one revision (revision=base for everything)
	$(RUN) recsys db downgrade $(or $(revision),-1)

db-current: install ## Show the database's current revision
	$(RUN) recsys db current

demo: data db-upgrade train-models ## Everything: ML-100K, migrate + seed, train the RECSYS_MODELS types (3 by default), serve on :8000 (reuses what exists)
	$(RUN) recsys serve --host $(host) --port $(port)

lint: install ## ruff (lint + format check), mypy (strict, recsys/ and tests/), the layer contracts (import-linter)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: install ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: lint lint-infra test-data ## Lint (code and infra), then the whole test suite (needs PostgreSQL; TEST_DATABASE_URL to override)
	$(RUN) pytest

test-fast: install test-data ## The test suite without lint
	$(RUN) pytest

# The tests that need real data read ML-100K and the RecBole wheel it comes from: both are fetched
# once from the package index (the offline source), so no test is skipped for want of `make demo`.
RECBOLE_WHEEL := recbole-1.2.1-py3-none-any.whl

test-data: install $(DATA_DIR)/ml-100k ## Fetch what the tests read: the RecBole wheel and ML-100K from it (offline source)

$(DATA_DIR)/$(RECBOLE_WHEEL):
	$(UV) tool run --from pip pip download --no-deps --only-binary=:all: --disable-pip-version-check --quiet --dest $(DATA_DIR) recbole==1.2.1

$(DATA_DIR)/ml-100k: | $(DATA_DIR)/$(RECBOLE_WHEEL)
	RECSYS_RECBOLE_WHEEL=$(DATA_DIR)/$(RECBOLE_WHEEL) $(RUN) recsys data fetch ml-100k --offline --data-dir $(DATA_DIR)

train-cli: install ## Train a model into the artifact store (model_type=als or any registered type [bucket_name=B] [engine=spark])
	$(RUN) recsys train --model-type $(model_type) $(if $(bucket_name),--bucket-name $(bucket_name)) $(if $(engine),--engine $(engine))

predict-cli: install ## Print a user's top-k with titles (user_id=1 model_type=als k=10 [bucket_name=B])
	$(RUN) recsys predict $(user_id) --model-type $(model_type) -k $(k) $(if $(bucket_name),--bucket-name $(bucket_name))

train-models: install ## Train each RECSYS_MODELS type that has no LATEST yet (retrain=1 fits them all again)
	$(RUN) recsys ensure-models $(if $(retrain),--retrain)

api: install ## Serve the API with uvicorn (host=127.0.0.1 port=8000; workers=N, default one per CPU)
	$(RUN) recsys serve --host $(host) --port $(port) $(if $(workers),--workers $(workers))

serve: api ## Alias of api

evaluate: install ## Evaluate every model on a dataset's files (dataset=ml-100k protocol=leave-last-out|random|temporal)
	$(RUN) recsys evaluate --dataset $(dataset) --protocol $(protocol) --models all -k $(k) --out reports/$(dataset)-$(protocol)

tune: install ## Tune a model on validation folds of the train part (model_type=als trials=40)
	$(RUN) recsys tune --model-type $(model_type) --trials $(trials) --dataset $(dataset) --folds 3 --score-test --out reports/tuning/$(model_type).json

simulate-ab: install ## Offline A/B test: popularity vs als, click = the held-out next item in the top k
	$(RUN) recsys simulate ab --dataset $(dataset) --policy-a popularity --policy-b als --out reports/$(dataset)-ab

simulate-loop: install ## Retrain after each of 5 time windows and score the next one
	$(RUN) recsys simulate feedback-loop --dataset $(dataset) --windows 5 --policies popularity,als,ease --out reports/$(dataset)-feedback-loop

notebooks: install ## Execute both notebooks on ML-100K
	$(RUN) pytest tests/notebooks -q

bench-serve: install ## Benchmark: wrk against uvicorn, recommendations vs a constant route (needs wrk)
	$(RUN) python benchmarks/serve.py

bench-train-spark: install-spark ## Benchmark: implicit vs Spark local[2] ALS on ML-100K and the 1M synthetic (export, fit, write, memory, NDCG@10)
	$(RUN) python benchmarks/train_spark.py

bench-events: install ## Benchmark: POST /events ingestion rate and POST -> reflecting GET latency (needs wrk)
	$(RUN) python benchmarks/events.py

bench-seed: install ## Benchmark: seed migration vs raw COPY, 1M synthetic ratings into PostgreSQL
	$(RUN) python benchmarks/seed.py

bench-train: install ## Benchmark: the recsys train job vs implicit's bare fit, 1M synthetic ratings in PostgreSQL
	$(RUN) python benchmarks/train.py

bench-outage: install ## Benchmark: recsys serve under load while its own PostgreSQL cluster (port 5491) is stopped and frozen (root)
	$(RUN) python benchmarks/outage.py

# Deployment files, validated offline. Tools come from the `infra` dependency group (synced by
# default); checkov runs pinned through `uv tool run` because its dependency tree would downgrade
# packaging, pytest and python-dateutil in the project lock. Skipped checkov checks are listed in
# infra/checkov.yaml. tests/infra is part of the test suite (`make test` runs it once, in pytest).
CHECKOV := $(UV) tool run checkov==3.3.30
K8S_VERSION ?= 1.33.0
K8S_MANIFESTS = $(filter-out %/kustomization.yaml,$(wildcard infra/k8s/*/*.yaml))

lint-infra: install ## Validate Dockerfile, compose, Cloud Build, Terraform and k8s offline (hadolint, checkov, schemas)
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive infra/terraform; else echo "terraform not on PATH: fmt check skipped"; fi
	$(RUN) hadolint Dockerfile
	$(RUN) check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yaml
	$(RUN) check-jsonschema --builtin-schema vendor.cloudbuild cloudbuild.yaml
	$(RUN) kubernetes-validate --strict --quiet -k $(K8S_VERSION) $(K8S_MANIFESTS)
	$(CHECKOV) --config-file infra/checkov.yaml -d infra/terraform -d infra/k8s
	$(CHECKOV) --config-file infra/checkov.yaml --file Dockerfile

up: ## Start postgres, the GCS emulator, migrate, train and the API with docker compose (needs POSTGRES_PASSWORD)
	docker compose up --build --detach api

down: ## Stop the compose stack (its volumes stay: docker compose down -v removes them)
	docker compose down

clean: ## Remove local state (./var, ./artifacts) but keep fetched data
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
