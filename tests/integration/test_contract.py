"""Schemathesis over the app's own OpenAPI document: every route, served for real.

``recsys serve`` (one worker) runs on the tiny dataset (users 1-4, movies 1, 2, 3, 5, 7, 11) in
a database of this module's own, with als, item_knn and popularity trained on it and the write
token set, so the write routes (events, reload) are exercised too. For every operation in the
document Hypothesis generates valid requests (positive) and requests that break the schema
(negative), and each answer is checked:

- ``not_a_server_error``: no 5xx (the database is up, every configured model is loaded);
- ``status_code_conformance``: the status is one the document lists for the operation;
- ``content_type_conformance`` and ``response_headers_conformance``: as documented;
- ``response_schema_conformance``: the body validates against the documented schema;
- ``negative_data_rejection``: a request that breaks the schema is refused (4xx), so the
  document does not promise less than the service accepts (``occurred_at: 0``, ...);
- ``ignored_auth``: a write route answers 401 when the token is left out.

``positive_data_acceptance`` is left out on purpose: the document cannot say which ids are in
the catalogue, and an event naming an unknown movie, or a model type that is registered but
not loaded here, is a 422 by design (see the routes' descriptions).

Generation is derandomized (the same cases every run) with a fixed number of examples per
operation and mode; the test counts the cases it ran and fails if fewer than ``MIN_CASES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Err
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support.servers import recsys_serve
from tests.support.training import train_into

pytestmark = pytest.mark.slow

TOKEN = "contract-test-token-0123456789"
MODELS = ("als", "item_knn", "popularity")
# Per operation and generation mode. Operations without parameters have one case, so the
# total is below 12 operations x 2 modes x EXAMPLES; MIN_CASES is what CI must run.
EXAMPLES = 70
MIN_CASES = 1_000

CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.ignored_auth,
]


@pytest.fixture(scope="module")
async def artifacts(module_tiny_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract-artifacts")
    for model_type in MODELS:
        await train_into(module_tiny_db, folder, model_type)
    return folder


@pytest.fixture(scope="module")
def served(
    module_tiny_db: str, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    env = {
        "RECSYS_DATABASE_URL": module_tiny_db,
        "RECSYS_ARTIFACT_URI": f"file://{artifacts}",
        "RECSYS_MODELS": ",".join(MODELS),
        "RECSYS_DEFAULT_MODEL": "als",
        "RECSYS_API_WRITE_TOKEN": TOKEN,
    }
    log = tmp_path_factory.mktemp("contract-log") / "serve.log"
    with recsys_serve(env, log, "--workers", "1") as client:
        yield client


@dataclass
class Tally:
    """Cases run and failures found, per operation label."""

    cases: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.cases.values())


def run_operation(
    operation: Any, mode: GenerationMode, base_url: str, http: requests.Session, tally: Tally
) -> None:
    """Every generated case of ``operation`` in ``mode``, called and checked."""
    label = f"{mode.value} {operation.label}"

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        tally.cases[label] = tally.cases.get(label, 0) + 1
        case.call_and_validate(
            base_url=base_url,
            session=http,
            headers={"Authorization": f"Bearer {TOKEN}"},
            checks=CHECKS,
        )

    try:
        check()
    except (
        Exception,
        BaseExceptionGroup,
    ) as exc:  # one operation's failure must not hide the others'
        tally.failures[label] = f"{type(exc).__name__}: {exc}"


def modes(operation: Any) -> list[GenerationMode]:
    """Positive always; negative where there is something to break (parameters or a body)."""
    has_inputs = any(True for _ in operation.iter_parameters()) or bool(
        operation.get_request_payload_content_types()
    )
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE][: 2 if has_inputs else 1]


def operations(document: dict[str, Any]) -> Iterator[Any]:
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is broken
        yield result.ok()


def test_schemathesis_finds_no_failure_on_any_route(served: httpx.Client) -> None:
    document = served.get("/openapi.json").json()
    tally = Tally()
    labels: list[str] = []
    with requests.Session() as http:
        for operation in operations(document):
            labels.append(operation.label)
            for mode in modes(operation):
                run_operation(operation, mode, str(served.base_url), http, tally)
    documented = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    assert set(labels) == documented  # every route of the document was exercised
    assert not tally.failures, "\n\n".join(f"{k}:\n{v}" for k, v in tally.failures.items())
    print(f"schemathesis: {tally.total()} cases", tally.cases)  # shown with -s
    assert tally.total() >= MIN_CASES, tally.cases
