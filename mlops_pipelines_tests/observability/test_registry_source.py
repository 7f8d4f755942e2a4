"""The registry source on real MLflow stores: the aliases of a registered model, and the two ways
a registry is unreachable (no store where the setting points; a server that does not answer)."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from mlops_pipelines.lib.registry.session import TrackingConfig, TrackingUnavailable, open_client
from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.observability.collector import PipelineCollector
from mlops_pipelines.observability.registry_source import RegistrySource
from mlops_pipelines.observability.state import RegistryState
from mlops_pipelines_tests.observability.scrape_support import FakeSource, scrape, value


def sqlite_config(directory: Path) -> TrackingConfig:
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    return TrackingConfig(uri, uri, str(directory / "artifacts"))


# Slow: a new MLflow SQLite store runs dozens of migrations (10-60 s on a busy machine).
@pytest.mark.slow
def test_the_aliases_of_each_project_are_read(tmp_path: Path) -> None:
    config = sqlite_config(tmp_path)
    with open_client(config) as client:
        client.create_registered_model("bike_sharing")
        for _ in range(3):
            client.create_model_version("bike_sharing", source=str(tmp_path / "model"))
        client.set_registered_model_alias("bike_sharing", "champion", "3")
        client.set_registered_model_alias("bike_sharing", "previous-champion", "1")
    states = RegistrySource(["bike_sharing", "wine_quality"], config).read()
    assert states == (
        RegistryState("bike_sharing", {"champion": "3", "previous-champion": "1"}),
        RegistryState("wine_quality", {}),  # nothing registered yet: no alias, no error
    )


def test_a_sqlite_store_that_does_not_exist_is_reported_not_created(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = sqlite_config(tmp_path / "elsewhere")
    exporter = PipelineCollector(FakeSource("dagster"), RegistrySource(["bike_sharing"], config))
    with caplog.at_level(logging.WARNING):
        samples = scrape(exporter)
    assert value(samples, m.UP, source="mlflow") == 0.0
    assert value(samples, m.CHAMPION_VERSION, project="bike_sharing") is None
    assert not (tmp_path / "elsewhere" / "mlflow.db").exists()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "MLOPS_TRACKING_URI" in warning and str(tmp_path / "elsewhere" / "mlflow.db") in warning


def test_a_server_that_does_not_answer_fails_the_read_in_seconds(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    source = RegistrySource(["bike_sharing"], TrackingConfig(uri, uri, str(tmp_path / "artifacts")))
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match=f"127.0.0.1:{port}"):
        source.read()
    assert time.monotonic() - started < 15.0  # no retries: MLflow's defaults would take minutes
