"""Helpers for the serving tests: real models in a real MLflow registry, and a real server process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.settings import Settings
from mlops_pipelines.spec import ProjectSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVENANCE = Provenance("a" * 40, False, "b" * 64, "3.11", {})
# Served predictions come from the compiled ONNX pipeline (float32), held to this of scikit-learn.
SERVED_RTOL = 1e-4
SABOTAGE_ENV = "MLOPS_TEST_SABOTAGE"  # "fail", "crash" or "sleep:<ms>", read at predict time
TOKEN = "t" * 16 + "0123456789abcdef"  # 32 characters: the shortest token the service accepts


def bike_frame(data_dir: Path, spec: ProjectSpec) -> pd.DataFrame:
    """hour.csv typed like a conformed table (dates as timestamps) with `_event_time`."""
    frame = pd.read_csv(data_dir / "bike_sharing" / "hour.csv")
    frame["dteday"] = pd.to_datetime(frame["dteday"])
    frame[EVENT_TIME] = frame["dteday"] + pd.to_timedelta(frame["hr"], unit="h")
    return frame


def adult_frame(data_dir: Path, spec: ProjectSpec) -> pd.DataFrame:
    frame = pd.read_csv(
        data_dir / "adult" / "adult.data",
        header=None,
        names=list(spec.columns),
        skipinitialspace=True,
        na_values=["?"],
    )
    return frame.astype({c: object for c, col in spec.columns.items() if col.dtype == "str"})


def fit_pipeline(spec: ProjectSpec, frame: pd.DataFrame, params: dict[str, Any]) -> Any:
    from threadpoolctl import threadpool_limits

    from mlops_pipelines.lib.training.search import build_pipeline

    pipeline = build_pipeline(spec, params)
    # OpenMP thread teams on a busy 2-core machine turn a 0.1 s fit into seconds.
    with threadpool_limits(1):
        return pipeline.fit(build_features(frame, spec), build_target(frame, spec))


class SabotagedModel:
    """A fitted pipeline that fails or sleeps on demand (env var), to play a bad challenger."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def fit(self, features: pd.DataFrame, target: pd.Series) -> SabotagedModel:
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        mode = os.environ.get(SABOTAGE_ENV, "")
        if mode == "fail":
            raise RuntimeError("sabotaged challenger")
        if mode == "crash":  # escapes `except Exception`: the scoring thread itself dies
            raise SystemExit("sabotaged scoring thread")
        if mode.startswith("sleep:"):
            time.sleep(float(mode.split(":", 1)[1]) / 1000)
        return np.asarray(self.inner.predict(features))


@dataclass(frozen=True)
class Registry:
    settings: Settings
    spec: ProjectSpec
    frame: pd.DataFrame  # conformed bike_sharing rows
    plain: str
    other: str
    sabotaged: str
    models: dict[str, Any]  # version -> fitted pipeline, for expected predictions
    adult_spec: ProjectSpec
    adult_frame: pd.DataFrame
    adult_model: Any  # registered as adult_income's champion

    def aliases(self, champion: str | None, challenger: str | None = None) -> None:
        set_alias(self.settings, self.spec.name, "champion", champion)
        set_alias(self.settings, self.spec.name, "challenger", challenger)


def tracking_config(settings: Settings) -> TrackingConfig:
    return TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)


def register(settings: Settings, spec: ProjectSpec, model: Any, example: pd.DataFrame) -> str:
    """Log a training run for `model` and register it (as the challenger); returns the version."""
    import cloudpickle

    from mlops_pipelines.lib.registry.aliases import register_challenger
    from mlops_pipelines.lib.registry.tracking import log_training_run

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    logged = log_training_run(
        tracking_config(settings),
        spec.name,
        pipeline=model,
        params={},
        metrics={},
        cv_results=[],
        figures={},
        input_example=build_features(example, spec),
        task_is_classification=spec.task.is_classification,
        tags={},
        extra_json={},
        provenance=PROVENANCE,
    )
    return register_challenger(tracking_config(settings), spec.name, logged, {}).version


def set_alias(settings: Settings, project: str, alias: str, version: str | None) -> None:
    from mlops_pipelines.lib.registry.session import open_client

    with open_client(tracking_config(settings)) as client:
        if version is None:
            aliases = client.get_registered_model(project).aliases or {}
            if alias in aliases:
                client.delete_registered_model_alias(project, alias)
        else:
            client.set_registered_model_alias(project, alias, version)


def artifact_dir(settings: Settings, project: str, version: str) -> Path:
    from mlops_pipelines.lib.registry.session import open_client

    with open_client(tracking_config(settings)) as client:
        source = client.get_model_version(project, version).source
    return Path(source.removeprefix("file://"))


def request_rows(frame: pd.DataFrame, spec: ProjectSpec) -> list[dict[str, Any]]:
    """JSON-ready request rows: the spec's columns minus the target, dates as ISO strings."""
    columns = [c for c in spec.columns if c != spec.target and c in frame.columns]
    out = frame[columns].copy()
    for name in columns:
        if spec.columns[name].dtype == "date":
            out[name] = pd.to_datetime(out[name]).dt.strftime("%Y-%m-%d")
    return [{k: _json_value(v) for k, v in row.items()} for row in out.to_dict("records")]


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


@contextmanager
def serve(
    settings: Settings, spec: ProjectSpec, options: Any = None, ready: bool = True
) -> Iterator[TestClient]:
    """The app in-process (lifespan included); waits for a loaded champion when `ready`."""
    from mlops_pipelines.serving.app import ServiceOptions, create_app

    app = create_app(spec.name, settings, options or ServiceOptions(poll_seconds=0.2), spec=spec)
    with TestClient(app) as client:
        if ready:
            wait_for(lambda: client.get("/readyz").status_code == 200, what="a loaded champion")
        yield client


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout} s for {what}")


def isolated(settings: Settings, home: Path) -> Settings:
    """The shared registry, but this test's own home (lake, deployments)."""
    return replace(settings, home=home, lake_root=str(home / "lake"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Generous: on a loaded 2-core machine the process's imports and first model load took over 60 s.
    def wait_ready(self, timeout: float = 150.0, headers: dict[str, str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", headers=headers, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log_path.read_text()}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM by PID and wait: the graceful path under test."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_server(
    settings: Settings, project: str, log_path: Path, extra_env: dict[str, str] | None = None, *args: str
) -> ServerProcess:
    port = free_port()
    # These fixtures register versions straight into MLflow, not through pipeline runs: a
    # DAGSTER_HOME of the caller's (CI sets one) would make the server check provenance against
    # an instance that never saw them (assets/test_model_provenance.py tests that refusal).
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "MLOPS_HOME": str(settings.home),
        "MLOPS_TRACKING_URI": settings.tracking_uri,
        "MLOPS_REGISTRY_URI": settings.registry_uri,
        "MLOPS_ARTIFACT_ROOT": settings.artifact_root,
        "MLOPS_LAKE_ROOT": settings.lake_root,
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "mlops_pipelines.serving",
        "--project",
        project,
        "--port",
        str(port),
        *args,
    ]
    with log_path.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    return ServerProcess(process, port, log_path)
