"""The serving cases of ../shared/FAULT-CASES.md, one test each, named by case number.

Cases tested elsewhere under their number: 25 (schemathesis, test_serving_schemathesis.py),
28 (slow model: test_serving_load.py), 29, 30 and 38 (test_serving_hardening.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serving_support import (
    SABOTAGE_ENV,
    Registry,
    artifact_dir,
    isolated,
    register,
    request_rows,
    serve,
    wait_for,
)

from mlops_pipelines.serving.options import ServiceOptions

OPTIONS = ServiceOptions(
    poll_seconds=0.2, supervise_seconds=0.1, log_flush_seconds=0.2, runtime="sklearn", log_in_process=True
)


@pytest.fixture(scope="module")
def client(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    registry.aliases(champion=registry.plain)
    with serve(isolated(registry.settings, tmp_path_factory.mktemp("cases")), registry.spec, OPTIONS) as app:
        yield app


@pytest.fixture(scope="module")
def row(registry: Registry) -> dict[str, Any]:
    return request_rows(registry.frame.iloc[300:301], registry.spec)[0]


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    return dict(response.json()["problems"][0])


def test_case_19_unseen_category_is_422_naming_the_column_or_accepted_when_declared(
    registry: Registry, tmp_path: Path
) -> None:
    spec = registry.adult_spec
    base = request_rows(registry.adult_frame.iloc[:1], spec)[0]
    with serve(isolated(registry.settings, tmp_path), spec, OPTIONS) as adult:
        refused = adult.post("/v1/predict", json={"row": {**base, "sex": "Robot"}})
        accepted = adult.post("/v1/predict", json={"row": {**base, "native_country": "Atlantis"}})
    assert _problem(refused)["column"] == "sex" and "unseen category" in _problem(refused)["problem"]
    assert accepted.status_code == 200  # native_country is `unseen: accept`: one-hot ignores it


def test_case_20_numeric_column_as_string_is_422(client: TestClient, row: dict[str, Any]) -> None:
    problem = _problem(client.post("/v1/predict", json={"row": {**row, "temp": "0.3"}}))
    assert problem["column"] == "temp" and "valid number" in problem["problem"]


def test_case_21_missing_required_column_is_422_missing(client: TestClient, row: dict[str, Any]) -> None:
    missing = {k: v for k, v in row.items() if k != "weathersit"}
    assert _problem(client.post("/v1/predict", json={"row": missing})) == {
        "row": 0,
        "column": "weathersit",
        "problem": "missing required column",
    }


def test_case_24_extra_column_is_refused_by_policy(client: TestClient, row: dict[str, Any]) -> None:
    problem = _problem(client.post("/v1/predict", json={"rows": [row, {**row, "mood": "sunny"}]}))
    assert problem == {"row": 1, "column": "mood", "problem": "unknown column (not in the project's schema)"}


@pytest.mark.parametrize("body", [b'{"row": {', b"\x00\xff", b"{'row': 1}"])
def test_case_25_malformed_json_is_400_with_a_code(client: TestClient, body: bytes) -> None:
    answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_json"


@pytest.mark.parametrize("media", ["text/csv", "application/x-www-form-urlencoded", ""])
def test_case_26_wrong_content_type_is_415(client: TestClient, row: dict[str, Any], media: str) -> None:
    headers = {"content-type": media} if media else {}
    answer = client.post("/v1/predict", content=json.dumps({"row": row}), headers=headers)
    assert answer.status_code == 415 and answer.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("value", [None, 1.5, "3", True])
def test_case_27_null_or_fraction_in_an_integer_feature_is_422(
    client: TestClient, row: dict[str, Any], value: Any
) -> None:
    assert _problem(client.post("/v1/predict", json={"row": {**row, "hr": value}}))["column"] == "hr"


def test_case_28_a_50_mb_body_is_413_and_the_server_stays_healthy(
    client: TestClient, row: dict[str, Any]
) -> None:
    huge = b'{"rows": [' + b" " * (50 * 1024 * 1024) + b"]}"
    answer = client.post("/v1/predict", content=huge, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    assert client.post("/v1/predict", json={"row": row}).status_code == 200


def test_case_32_a_challenger_raising_on_shadow_traffic_never_changes_answers(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: dict[str, Any]
) -> None:
    monkeypatch.setenv(SABOTAGE_ENV, "fail")
    registry.aliases(champion=registry.plain, challenger=registry.sabotaged)
    spec = registry.spec.model_copy(
        update={"serving": registry.spec.serving.model_copy(update={"shadow": True})}
    )
    with serve(isolated(registry.settings, tmp_path), spec, OPTIONS) as app:
        wait_for(lambda: app.get("/v1/deployment").json()["routes"]["shadow"] == registry.sabotaged)
        answers = [app.post("/v1/predict", json={"row": row}) for _ in range(10)]
        text = ""

        def counted() -> bool:
            nonlocal text
            text = app.get("/metrics").text
            return re.search(r'mlops_serving_model_errors_total\{route="shadow"\} (\d+)', text) is not None

        wait_for(counted, what="shadow errors counted")
    registry.aliases(champion=registry.plain)
    assert {(a.status_code, a.json()["model_version"]) for a in answers} == {(200, registry.plain)}
    found = re.search(r'mlops_serving_model_errors_total\{route="shadow"\} (\S+)', text)
    assert found is not None and float(found.group(1)) >= 1
    # Failure twin: the champion's own failures are errors the client sees (500, no internals).
    monkeypatch.setenv(SABOTAGE_ENV, "fail")
    registry.aliases(champion=registry.sabotaged)
    with serve(isolated(registry.settings, tmp_path / "twin"), spec, OPTIONS) as app:
        failed = app.post("/v1/predict", json={"row": row})
    registry.aliases(champion=registry.plain)
    assert failed.status_code == 500 and failed.json()["error"] == "prediction_failed"
    assert "sabotaged" not in failed.text


def test_case_33_rollback_is_picked_up_without_restart(
    registry: Registry, client: TestClient, row: dict[str, Any]
) -> None:
    registry.aliases(champion=registry.other)
    wait_for(lambda: client.post("/v1/predict", json={"row": row}).json()["model_version"] == registry.other)
    registry.aliases(champion=registry.plain)  # the rollback: the previous version again
    wait_for(lambda: client.post("/v1/predict", json={"row": row}).json()["model_version"] == registry.plain)


def test_case_30_35_a_tampered_champion_artifact_is_refused_and_the_old_one_serves(
    registry: Registry, client: TestClient, row: dict[str, Any]
) -> None:
    tampered = register(
        registry.settings, registry.spec, registry.models[registry.plain], registry.frame[:20]
    )
    model_file = artifact_dir(registry.settings, "bike_sharing", tampered) / "model.pkl"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    registry.aliases(champion=tampered)
    try:
        wait_for(lambda: client.get("/readyz").json()["status"] == "degraded", what="the refused load")
        ready = client.get("/readyz").json()
        answer = client.post("/v1/predict", json={"row": row}).json()
    finally:
        registry.aliases(champion=registry.plain)
    assert f"version {tampered} failed to load (ModelIntegrityError)" in ready["reasons"][0]
    assert ready["champion"] == registry.plain and answer["model_version"] == registry.plain


def test_a_refused_version_is_loaded_a_few_polls_after_it_becomes_loadable(
    registry: Registry, client: TestClient, row: dict[str, Any]
) -> None:
    """A refit champion's alias moves a moment before its provenance is recorded, so the first
    load can be refused. The holder tries again one poll later, then backs off doubling up to
    `retry_seconds` (60 s here): the version serves within seconds once it loads, not a minute."""
    version = register(registry.settings, registry.spec, registry.models[registry.plain], registry.frame[:20])
    model_file = artifact_dir(registry.settings, "bike_sharing", version) / "model.pkl"
    good = model_file.read_bytes()
    model_file.write_bytes(good[: len(good) // 2])
    registry.aliases(champion=version)
    try:
        wait_for(lambda: client.get("/readyz").json()["status"] == "degraded", what="the refused load")
        assert client.post("/v1/predict", json={"row": row}).json()["model_version"] == registry.plain
        model_file.write_bytes(good)  # now loadable, as when the provenance record lands
        started = time.monotonic()
        wait_for(
            lambda: client.post("/v1/predict", json={"row": row}).json()["model_version"] == version,
            timeout=20,
            what="the repaired version served",
        )
        assert time.monotonic() - started < 20
    finally:
        registry.aliases(champion=registry.plain)
