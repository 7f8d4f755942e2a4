"""The predict endpoint in-process: answers, strict validation, status codes, auth and probes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_support import SERVED_RTOL, TOKEN, Registry, isolated, request_rows, serve, wait_for

from mlops_pipelines.lib.features import build_features
from mlops_pipelines.settings import Settings


@pytest.fixture(scope="module")
def bike_client(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    registry.aliases(champion=registry.plain)
    with serve(isolated(registry.settings, tmp_path_factory.mktemp("app")), registry.spec) as client:
        yield client


@pytest.fixture(scope="module")
def rows(registry: Registry) -> list[dict[str, Any]]:
    return request_rows(registry.frame.iloc[1000:1010], registry.spec)


def _post(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post("/v1/predict", json=body, headers=headers)


def test_batches_and_single_rows_score_like_the_training_path(
    bike_client: TestClient, registry: Registry, rows: list[dict[str, Any]]
) -> None:
    expected = registry.models[registry.plain].predict(
        build_features(registry.frame.iloc[1000:1010], registry.spec)
    )
    batch = _post(bike_client, {"rows": rows})
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["route"] == "champion" and body["model_version"] == registry.plain
    # The service answers from the compiled (float32 ONNX) pipeline, held to 1e-4 of scikit-learn.
    assert bike_client.get("/v1/deployment").json()["models"]["champion"]["runtime"] == "onnx"
    np.testing.assert_allclose(body["predictions"], expected, rtol=SERVED_RTOL)
    assert not np.array_equal(body["predictions"], expected)  # it really is the compiled model
    single = _post(bike_client, {"row": rows[3]}).json()
    assert single["predictions"] == pytest.approx([body["predictions"][3]], rel=1e-12)


def test_target_and_excluded_columns_are_optional_but_accepted(
    bike_client: TestClient, rows: list[dict[str, Any]]
) -> None:
    minimal = {k: v for k, v in rows[0].items() if k not in ("instant", "yr", "casual", "registered")}
    assert _post(bike_client, {"row": minimal}).status_code == 200
    assert _post(bike_client, {"row": {**rows[0], "cnt": 12}}).status_code == 200


def test_request_id_is_echoed_or_generated(bike_client: TestClient, rows: list[dict[str, Any]]) -> None:
    echoed = _post(bike_client, {"row": rows[0]}, **{"X-Request-ID": "order-42"})
    assert echoed.headers["x-request-id"] == "order-42" == echoed.json()["request_id"]
    fresh = _post(bike_client, {"row": rows[0]})
    assert (
        len(fresh.headers["x-request-id"]) == 32
        and fresh.json()["request_id"] == fresh.headers["x-request-id"]
    )
    # A header that could inject into logs is replaced, not echoed.
    odd = _post(bike_client, {"row": rows[0]}, **{"X-Request-ID": "a b\tc"})
    assert odd.headers["x-request-id"] != "a b\tc"


@pytest.mark.parametrize(
    ("change", "column", "fragment"),
    [
        ({"hr": 1.5}, "hr", "valid integer"),
        ({"hr": "3"}, "hr", "valid integer"),
        ({"hr": True}, "hr", "valid integer"),
        ({"hr": 24}, "hr", "less than or equal to 23"),
        ({"temp": "0.5"}, "temp", "valid number"),
        ({"temp": None}, "temp", "valid number"),
        ({"dteday": "2011-13-01"}, "dteday", "valid date"),
        ({"windchill": 0.3}, "windchill", "unknown column"),
    ],
)
def test_invalid_values_name_row_column_and_problem(
    bike_client: TestClient, rows: list[dict[str, Any]], change: dict[str, Any], column: str, fragment: str
) -> None:
    bad = [rows[0], rows[1], {**rows[2], **change}]
    response = _post(bike_client, {"rows": bad})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and body["request_id"] == response.headers["x-request-id"]
    [problem] = body["problems"]
    assert (problem["row"], problem["column"]) == (2, column)
    assert fragment in problem["problem"]
    assert "Traceback" not in response.text and "properties" not in response.text


def test_missing_column_and_float_for_int_accepts_ints_for_floats(
    bike_client: TestClient, rows: list[dict[str, Any]]
) -> None:
    missing = {k: v for k, v in rows[0].items() if k != "hr"}
    body = _post(bike_client, {"row": missing}).json()
    assert body["problems"] == [{"row": 0, "column": "hr", "problem": "missing required column"}]
    # A JSON integer is a fine float (windspeed 0), but never the other way round.
    assert _post(bike_client, {"row": {**rows[0], "windspeed": 0, "temp": 1}}).status_code == 200


def test_many_problems_are_capped(bike_client: TestClient, rows: list[dict[str, Any]]) -> None:
    bad = [{**row, "hr": 0.5, "season": 9} for row in rows] * 3
    body = _post(bike_client, {"rows": bad}).json()
    assert body["total_problems"] == 60 and len(body["problems"]) == 20


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b'{"rows": [', "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        (b'{"rows": []}', "application/json", 422, "validation_error"),
        (b"[]", "application/json", 422, "validation_error"),
        (b'{"rows": [], "row": {}}', "application/json", 422, "validation_error"),
        (b'{"rows": [1]}', "text/plain", 415, "unsupported_media_type"),
        (b'{"rows": [1]}', "", 415, "unsupported_media_type"),
    ],
)
def test_status_codes_for_bad_bodies(
    bike_client: TestClient, content: bytes, content_type: str, status: int, error: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = bike_client.post("/v1/predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and response.json()["request_id"]


def test_zero_rows_message_is_clear(bike_client: TestClient) -> None:
    assert "at least one row" in _post(bike_client, {"rows": []}).json()["message"]


def test_too_large_bodies_and_too_many_rows_are_413(
    bike_client: TestClient, registry: Registry, rows: list[dict[str, Any]]
) -> None:
    limit = registry.spec.serving.max_body_bytes
    big = bike_client.post(
        "/v1/predict", content=b" " * (limit + 1), headers={"content-type": "application/json"}
    )
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    # Under the byte limit but over max_batch_rows (1000 for bike_sharing).
    compact = {"dteday": "2011-01-01", "season": 1, "mnth": 1, "hr": 0, "holiday": 0, "weekday": 6}
    compact |= {"workingday": 0, "weathersit": 1, "temp": 0.2, "atemp": 0.2, "hum": 0.8, "windspeed": 0}
    body = json.dumps({"rows": [compact] * (registry.spec.serving.max_batch_rows + 1)}).encode()
    assert len(body) < limit
    many = bike_client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert many.status_code == 413 and many.json()["error"] == "too_many_rows"
    exact = json.dumps({"rows": [compact] * registry.spec.serving.max_batch_rows}).encode()
    assert (
        bike_client.post(
            "/v1/predict", content=exact, headers={"content-type": "application/json"}
        ).status_code
        == 200
    )


def test_classifier_answers_labels_and_probabilities(registry: Registry, tmp_path: Path) -> None:
    spec = registry.adult_spec
    sample = registry.adult_frame.iloc[700:706]
    expected = registry.adult_model.predict_proba(build_features(sample, spec))
    with serve(isolated(registry.settings, tmp_path), spec) as client:
        body = _post(client, {"rows": request_rows(sample, spec)}).json()
        assert [p["label"] for p in body["predictions"]] == [
            ["<=50K", ">50K"][i] for i in expected.argmax(axis=1)
        ]
        got = [[p["probabilities"]["<=50K"], p["probabilities"][">50K"]] for p in body["predictions"]]
        np.testing.assert_allclose(got, expected, rtol=1e-12)  # categorical inputs: scikit-learn itself
        champion = client.get("/v1/deployment").json()["models"]["champion"]
        assert (
            champion["runtime"] == "sklearn" and "non-numeric feature column(s)" in champion["runtime_note"]
        )
        row = request_rows(sample.iloc[:1], spec)[0]
        unseen = _post(client, {"row": {**row, "sex": "Robot"}})
        assert unseen.status_code == 422
        assert unseen.json()["problems"][0]["column"] == "sex"
        assert "unseen category 'Robot'" in unseen.json()["problems"][0]["problem"]
        # native_country is declared `unseen: accept`; workclass is nullable.
        assert (
            _post(client, {"row": {**row, "native_country": "Atlantis", "workclass": None}}).status_code
            == 200
        )


def test_no_champion_means_not_ready(registry: Registry, tmp_path: Path, specs: dict[str, Any]) -> None:
    spec = specs["wine_quality"]  # nothing registered for this project
    with serve(isolated(registry.settings, tmp_path), spec, ready=False) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        row = {c: 1.0 for c in spec.feature_columns}
        response = _post(client, {"row": row})
        assert response.status_code == 503 and response.json()["error"] == "not_ready"


def test_bearer_token_guards_everything_but_healthz(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("MLOPS_SERVING_TOKEN", TOKEN)
    registry.aliases(champion=registry.plain)
    settings: Settings = isolated(registry.settings, tmp_path)
    with serve(settings, registry.spec, ready=False) as client:
        monkeypatch.delenv("MLOPS_SERVING_TOKEN")  # read once, at app creation
        assert client.get("/healthz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            denied = client.post("/v1/predict", json={"row": rows[0]}, headers=headers)
            assert denied.status_code == 401 and denied.json()["error"] == "unauthorized"
            assert client.get("/metrics", headers=headers).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        wait_for(lambda: client.get("/readyz", headers=auth).status_code == 200, what="readiness")
        assert client.post("/v1/predict", json={"row": rows[0]}, headers=auth).status_code == 200


def test_metrics_deployment_and_docs(
    bike_client: TestClient, registry: Registry, rows: list[dict[str, Any]]
) -> None:
    _post(bike_client, {"rows": rows})
    _post(bike_client, {"rows": [{**rows[0], "hr": 1.5}]})
    text = bike_client.get("/metrics").text
    assert 'mlops_serving_requests_total{route="champion",status="200"}' in text
    assert 'mlops_serving_requests_total{route="none",status="422"}' in text
    champion = f'route="champion",runtime="onnx",version="{registry.plain}"'
    assert f"mlops_serving_model_version_info{{{champion}}} 1.0" in text
    assert "mlops_serving_request_latency_seconds_bucket" in text
    deployment = bike_client.get("/v1/deployment").json()
    assert deployment["routes"]["champion"] == registry.plain
    assert deployment["models"]["champion"]["artifact_sha256"]
    ready = bike_client.get("/readyz").json()
    assert ready == {"status": "ready", "champion": registry.plain, "challenger": None, "reasons": []}
    schema = bike_client.get("/openapi.json").json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # Exactly one of the two forms (so `{}` is outside the schema, as the service refuses it).
    assert [alt["required"] for alt in body["oneOf"]] == [["row"], ["rows"]]
    assert body["oneOf"][1]["properties"]["rows"]["minItems"] == 1
    row_schema = schema["components"]["schemas"]["BikeSharingRow"]
    assert "hr" in row_schema["required"] and "cnt" not in row_schema["required"]
    assert bike_client.get("/docs").status_code == 200
