"""This service vs `mlflow models serve`: same registered model, same client, one run.

    .venv/bin/python benchmarks/bench_serving.py [--requests 1500] [--concurrency 1 8]

What it does, all on loopback and in a temporary MLOPS_HOME:
1. trains the bike_sharing pipeline (lib.training) on 4,000 real rows, logs and registers it
   through lib.tracking / lib.registry and makes it the champion (a second version is the
   challenger for the shadow run);
2. starts `python -m mlops_pipelines.serving` (shadow off) and `mlflow models serve -m
   models:/bike_sharing@champion --env-manager local`, one uvicorn worker each, both with
   OMP_NUM_THREADS=1 (OpenMP thread teams on a 2-core box shared with the client only add
   contention: both servers get the same setting);
3. drives both with the same small threaded client (one persistent http.client connection
   per thread): 1-row and 100-row requests, at each concurrency;
4. restarts this service with shadow on and measures the 1-row p50 again (the shadow cost).

The payloads differ only as the APIs require: this service takes raw spec rows and validates,
builds features, routes and logs them; mlflow takes the model's feature frame
(`dataframe_split`) and does none of that. The numbers are printed as measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PROJECT = "bike_sharing"


@dataclass(frozen=True)
class Result:
    server: str
    rows: int
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(home: Path) -> tuple[dict[str, str], pd.DataFrame]:
    """Train, log and register two versions; returns the server environment and sample rows."""
    from threadpoolctl import threadpool_limits

    from mlops_pipelines.lib.features import build_features, build_target
    from mlops_pipelines.lib.frames import EVENT_TIME
    from mlops_pipelines.lib.mlflow_session import TrackingConfig, open_client
    from mlops_pipelines.lib.provenance import Provenance
    from mlops_pipelines.lib.registry import register_challenger
    from mlops_pipelines.lib.tracking import log_training_run
    from mlops_pipelines.lib.training import build_pipeline
    from mlops_pipelines.settings import load_settings
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[PROJECT]
    settings = load_settings({"MLOPS_HOME": str(home)})
    cfg = TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)
    frame = pd.read_csv(DATA / "bike_sharing" / "hour.csv")
    frame["dteday"] = pd.to_datetime(frame["dteday"])
    frame[EVENT_TIME] = frame["dteday"] + pd.to_timedelta(frame["hr"], unit="h")
    versions = []
    for start, iters in ((0, 100), (4000, 150)):
        train = frame.iloc[start : start + 4000]
        pipeline = build_pipeline(spec, {"model__max_iter": iters})
        with threadpool_limits(1):
            pipeline.fit(build_features(train, spec), build_target(train, spec))
        logged = log_training_run(
            cfg,
            PROJECT,
            pipeline=pipeline,
            params={"model__max_iter": iters},
            metrics={},
            cv_results=[],
            figures={},
            input_example=build_features(train.iloc[:200], spec),
            task_is_classification=False,
            tags={},
            extra_json={},
            provenance=Provenance(None, None, None, sys.version.split()[0], {}),
        )
        versions.append(register_challenger(cfg, PROJECT, logged, {}).version)
    with open_client(cfg) as client:
        client.set_registered_model_alias(PROJECT, "champion", versions[0])
        client.set_registered_model_alias(PROJECT, "challenger", versions[1])
    env = {
        **os.environ,
        "MLOPS_HOME": str(home),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.registry_uri,
        "OMP_NUM_THREADS": "1",
        # mlflow serve execs `uvicorn` by name: the venv's bin must be on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return env, frame.iloc[8000:9000]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)


def wait_ready(
    port: int, path: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server on port {port} not ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


def drive(
    port: int, path: str, bodies: list[bytes], requests: int, concurrency: int
) -> tuple[float, list[float], int]:
    """`requests` POSTs spread over `concurrency` threads; returns wall seconds, latencies, errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_thread = requests // concurrency
    barrier = threading.Barrier(concurrency + 1)

    def worker(offset: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        mine: list[float] = []
        failed = 0
        barrier.wait()
        for i in range(per_thread):
            body = bodies[(offset + i) % len(bodies)]
            began = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            failed += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker, args=(t * 997,)) for t in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, errors


def bodies_for(frame: pd.DataFrame, rows: int, ours: bool) -> list[bytes]:
    from mlops_pipelines.lib.features import build_features
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[PROJECT]
    out = []
    for start in range(0, len(frame) - rows + 1, rows):
        chunk = frame.iloc[start : start + rows]
        if ours:
            raw = chunk[[c for c in spec.columns if c != spec.target]].copy()
            raw["dteday"] = raw["dteday"].dt.strftime("%Y-%m-%d")
            out.append(json.dumps({"rows": raw.to_dict("records")}).encode())
        else:
            features = build_features(chunk, spec)
            out.append(json.dumps({"dataframe_split": features.to_dict("split")}).encode())
    return out


def measure(
    name: str, port: int, path: str, bodies: list[bytes], rows: int, concurrency: int, requests: int
) -> Result:
    drive(port, path, bodies, max(50, requests // 10), concurrency)  # warm-up
    seconds, latencies, errors = drive(port, path, bodies, requests, concurrency)
    ms = np.asarray(latencies) * 1000
    return Result(
        name,
        rows,
        concurrency,
        len(latencies),
        seconds,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        errors,
    )


def run_server_suite(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    ready_path: str,
    path: str,
    frame: pd.DataFrame,
    args: argparse.Namespace,
    log: Path,
    ours: bool,
) -> list[Result]:
    process = start(command, env, log)
    try:
        started = time.monotonic()
        wait_ready(port, ready_path, process, log)
        print(f"{name}: ready in {time.monotonic() - started:.1f} s", flush=True)
        results = []
        for rows, requests in ((1, args.requests), (100, max(100, args.requests // 5))):
            bodies = bodies_for(frame, rows, ours)
            for concurrency in args.concurrency:
                result = measure(name, port, path, bodies, rows, concurrency, requests)
                print(
                    f"  {name:>7} rows={rows:<3} c={concurrency}: {result.rps:8.1f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                    flush=True,
                )
                results.append(result)
        return results
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=1500, help="1-row requests per scenario (100-row: a fifth)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        home = Path(tmp)
        print("training and registering the bike_sharing model ...", flush=True)
        env, frame = prepare(home)
        python = sys.executable
        ours_port, mlflow_port, shadow_port = free_port(), free_port(), free_port()
        ours_cmd = [python, "-m", "mlops_pipelines.serving", "--project", PROJECT, "--port", str(ours_port)]
        ours_cmd += ["--no-shadow", "--canary-share", "0", "--log-level", "warning"]
        mlflow_cmd = [
            str(Path(python).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{PROJECT}@champion",
        ]
        mlflow_cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)]
        ours = run_server_suite(
            "service",
            ours_cmd,
            env,
            ours_port,
            "/readyz",
            "/v1/predict",
            frame,
            args,
            home / "ours.log",
            True,
        )
        shadow_cmd = [
            python,
            "-m",
            "mlops_pipelines.serving",
            "--project",
            PROJECT,
            "--port",
            str(shadow_port),
        ]
        shadow_cmd += ["--shadow", "--canary-share", "0", "--log-level", "warning"]
        process = start(shadow_cmd, env, home / "shadow.log")
        try:
            wait_ready(shadow_port, "/readyz", process, home / "shadow.log")
            bodies = bodies_for(frame, 1, True)
            shadow = measure("shadow", shadow_port, "/v1/predict", bodies, 1, 1, args.requests)
        finally:
            stop(process)
        # Last: `mlflow models serve -m models:/...` writes a `registered_model_meta` file into
        # the registered artifact directory, after which the sha256 check refuses the version.
        theirs = run_server_suite(
            "mlflow",
            mlflow_cmd,
            env,
            mlflow_port,
            "/ping",
            "/invocations",
            frame,
            args,
            home / "mlflow.log",
            False,
        )
    report(ours, theirs, shadow)


def report(ours: list[Result], theirs: list[Result], shadow: Result) -> None:
    print()
    header = f"{'rows':>4} {'conc':>4} | {'service req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
    header += f"{'mlflow req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | {'x throughput':>12} {'p99 ratio':>9}"
    print(header)
    print("-" * len(header))
    for a, b in zip(ours, theirs, strict=True):
        print(
            f"{a.rows:>4} {a.concurrency:>4} | {a.rps:>13.1f} {a.p50_ms:>7.2f} {a.p99_ms:>7.2f} | "
            f"{b.rps:>12.1f} {b.p50_ms:>7.2f} {b.p99_ms:>7.2f} | "
            f"{a.rps / b.rps:>12.2f} {a.p99_ms / b.p99_ms:>9.2f}"
        )
    base = next(r for r in ours if r.rows == 1 and r.concurrency == 1)
    print()
    print(
        f"shadow on, 1 row, c=1: p50 {shadow.p50_ms:.2f} ms vs {base.p50_ms:.2f} ms off "
        f"(cost {shadow.p50_ms - base.p50_ms:+.2f} ms), {shadow.rps:.1f} req/s"
    )
    errors = sum(r.errors for r in [*ours, *theirs, shadow])
    print(f"non-200 answers: {errors}")


if __name__ == "__main__":
    main()
