"""schemathesis against the service's own OpenAPI, over real HTTP (uvicorn on a thread).

Every operation is exercised with generated valid and invalid requests, a bounded number of
examples each (about 20 s), and every response must pass
schemathesis's checks: no 5xx, status codes, content types, headers and bodies as
documented, valid bodies accepted and invalid ones refused, 405 with `Allow`. On top of its
checks, no body carries a stack trace.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import live_server
from schemathesis.config._checks import NegativeDataRejectionConfig  # not re-exported in 4.x
from serving_support import Registry, isolated

from mlops_pipelines.serving.options import ServiceOptions

log = logging.getLogger(__name__)
# Per operation and generation mode (valid, invalid): about 20 s for the five operations and
# every check's extra probes on this 2-core machine (the GET operations take no input: one each).
EXAMPLES = 80


@pytest.fixture(scope="module")
def api(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    registry.aliases(champion=registry.plain)
    settings_ = isolated(registry.settings, tmp_path_factory.mktemp("schemathesis"))
    options = ServiceOptions(poll_seconds=0.5, log_flush_seconds=0.5, log_in_process=True)
    with live_server(settings_, registry.spec, options) as live:
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        # A batch over the row limit is refused with 413 (documented), before its rows are read:
        # a rejection like 400/422, which schemathesis's default list leaves out.
        rejection = schema.config.checks.negative_data_rejection
        schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
            expected_statuses=[*rejection.expected_statuses, "413"]
        )
        yield schema


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_case_25_generated_requests_conform_to_the_openapi(api: Any, mode: str) -> None:
    """Every operation, `EXAMPLES` generated requests each; every schemathesis check must pass.

    (schemathesis's pytest plugin does not load under pytest 9; its strategies and checks do.)
    """
    statuses: Counter[tuple[str, int]] = Counter()
    for result in api.get_all_operations():
        operation = result.ok()
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # no parameters and no body: nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            response = case.call_and_validate()
            statuses[(case.operation.label, response.status_code)] += 1
            assert response.status_code < 500, response.text
            assert "Traceback" not in response.text and 'File "' not in response.text

        check()
    log.warning(
        "schemathesis %s: %d cases, by operation and status: %s", mode, sum(statuses.values()), dict(statuses)
    )
    wanted = {"POST /v1/predict"} | ({"GET /readyz", "GET /metrics"} if mode == "positive" else set())
    assert {label for label, _ in statuses} >= wanted
    assert statuses[("POST /v1/predict", 200 if mode == "positive" else 422)] > 0


def test_the_schema_admits_neither_an_empty_body_nor_an_empty_batch(registry: Registry) -> None:
    """The conformance failures schemathesis found before: `{}` was admitted and refused."""
    from jsonschema import Draft202012Validator

    from mlops_pipelines.serving.openapi import request_body_schema
    from mlops_pipelines.serving.schemas import build_request_schema

    body, definitions = request_body_schema(build_request_schema(registry.spec))
    document = {**body, "components": {"schemas": definitions}}
    validator = Draft202012Validator(document)
    row = {"dteday": "2011-01-01", "season": 1, "mnth": 1, "hr": 0, "holiday": 0, "weekday": 6}
    row |= {"workingday": 0, "weathersit": 1, "temp": 0.2, "atemp": 0.2, "hum": 0.8, "windspeed": 0}
    assert validator.is_valid({"row": row}) and validator.is_valid({"rows": [row, row]})
    for refused in ({}, {"rows": []}, {"row": row, "rows": [row]}, {"row": {**row, "dteday": "2263-01-01"}}):
        assert not validator.is_valid(refused), refused
