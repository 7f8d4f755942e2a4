"""Which runtime answers: compiled ONNX when proven equal, scikit-learn when asked or when it is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving_support import Registry, isolated, request_rows, serve, wait_for

from mlops_pipelines.lib.features import build_features
from mlops_pipelines.serving.app import ServiceOptions


def test_runtime_sklearn_answers_with_scikit_learn_exactly(registry: Registry, tmp_path: Path) -> None:
    registry.aliases(champion=registry.plain)
    sample = registry.frame.iloc[2000:2020]
    expected = registry.models[registry.plain].predict(build_features(sample, registry.spec))
    options = ServiceOptions(poll_seconds=0.2, runtime="sklearn")
    with serve(isolated(registry.settings, tmp_path), registry.spec, options) as client:
        body = client.post("/v1/predict", json={"rows": request_rows(sample, registry.spec)}).json()
        np.testing.assert_allclose(body["predictions"], expected, rtol=1e-12)
        champion = client.get("/v1/deployment").json()["models"]["champion"]
        assert champion["runtime"] == "sklearn" and champion["runtime_note"] == "runtime: sklearn in the spec"


def test_the_default_runtime_reports_how_close_the_compiled_model_is(
    registry: Registry, tmp_path: Path
) -> None:
    registry.aliases(champion=registry.plain)
    with serve(isolated(registry.settings, tmp_path), registry.spec) as client:
        champion = client.get("/v1/deployment").json()["models"]["champion"]
        assert champion["runtime"] == "onnx"
        deviation = float(champion["runtime_note"].removeprefix("max deviation from scikit-learn "))
        assert 0 < deviation < 1e-2


def test_runtime_onnx_refuses_a_model_that_does_not_compile(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """adult_income's categorical inputs do not compile: with `onnx` required, nothing serves."""
    options = ServiceOptions(poll_seconds=0.2, runtime="onnx")
    with serve(isolated(registry.settings, tmp_path), registry.adult_spec, options, ready=False) as client:
        wait_for(
            lambda: bool(client.get("/readyz").json()["reasons"][0].startswith("champion")), what="a load"
        )
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        reason = ready.json()["reasons"][0]
        # The client sees the error's type; its text is for the operator's log only.
        assert "(CompileError)" in reason and "non-numeric feature column(s)" in caplog.text
        row = request_rows(registry.adult_frame.iloc[:1], registry.adult_spec)[0]
        assert client.post("/v1/predict", json={"row": row}).status_code == 503
