"""This service vs `mlflow models serve`: same registered model, same client, one run.

    .venv/bin/python benchmarks/bench_serving.py [--requests 1500] [--concurrency 1 8] [--rounds 5] [--quick]

What it does, all on loopback and in a temporary MLOPS_HOME:
1. trains the bike_sharing pipeline (lib.training.search) on 4,000 real rows, logs and registers it
   through lib.registry.tracking / lib.registry.aliases and makes it the champion (a second version is the
   challenger, scored by the shadow instance);
2. starts this service twice (`python -m mlops_pipelines.serving`, shadow off and shadow on)
   and `mlflow models serve -m models:/bike_sharing@champion --env-manager local`: one
   uvicorn worker each, all with OMP_NUM_THREADS=1 (OpenMP thread teams on a 2-core box shared
   with the client only add contention; every server gets the same setting);
3. drives them with one small threaded client (a persistent http.client connection per
   thread), 1-row and 100-row requests at each concurrency, servers alternating in an order
   that rotates each round, after an idle pause, so drifting background load and one
   server's leftovers hit all alike. It prints medians over rounds and, as ratios, the
   median of each round's own service / mlflow ratio, and the p50 cost of shadow mode.

The payloads differ only as the APIs require: this service takes raw spec rows and validates
them, builds features with the shared `build_feature_arrays`, routes, logs every row to Delta
(in its writer process) and counts metrics; mlflow takes the model's ready-made feature frame
(`dataframe_split`) and does none of that. Both serve the same registered version: this
service with its default runtime (the version compiled to ONNX, accepted because it matched
scikit-learn within 1e-4 on the logged input example; its /v1/deployment says so and the run
prints it), mlflow with the scikit-learn flavour. The numbers are printed as measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from operator import attrgetter
from pathlib import Path

import numpy as np
import pandas as pd
from bench_serving_client import REPO, Result, free_port, measure, runtime_of, start, stop, wait_ready

DATA = REPO.parent / "shared" / "data"
PROJECT = "bike_sharing"


def prepare(home: Path) -> tuple[dict[str, str], pd.DataFrame]:
    """Train, log and register two versions; returns the server environment and sample rows."""
    from threadpoolctl import threadpool_limits

    from mlops_pipelines.lib.features import build_features, build_target
    from mlops_pipelines.lib.frames import EVENT_TIME
    from mlops_pipelines.lib.registry.aliases import register_challenger
    from mlops_pipelines.lib.registry.provenance import Provenance
    from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
    from mlops_pipelines.lib.registry.tracking import log_training_run
    from mlops_pipelines.lib.training.search import build_pipeline
    from mlops_pipelines.settings import load_settings
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[PROJECT]
    settings = load_settings({"MLOPS_HOME": str(home)})
    cfg = TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)
    frame = pd.read_csv(DATA / "bike_sharing" / "hour.csv")
    frame["dteday"] = pd.to_datetime(frame["dteday"])
    frame[EVENT_TIME] = frame["dteday"] + pd.to_timedelta(frame["hr"], unit="h")
    versions = []
    for first, iters in ((0, 100), (4000, 150)):
        train = frame.iloc[first : first + 4000]
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
    # Versions registered here, not by pipeline runs: no DAGSTER_HOME (./dev sets one), so the
    # service checks their sha256 tags and not a Dagster instance that never saw them.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "MLOPS_HOME": str(home),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.registry_uri,
        "OMP_NUM_THREADS": "1",
        # mlflow serve execs `uvicorn` by name: the venv's bin must be on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return env, frame.iloc[8000:9000]


def bodies_for(frame: pd.DataFrame, rows: int, ours: bool) -> list[bytes]:
    from mlops_pipelines.lib.features import build_features
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[PROJECT]
    out = []
    for first in range(0, len(frame) - rows + 1, rows):
        chunk = frame.iloc[first : first + rows]
        if ours:
            raw = chunk[[c for c in spec.columns if c != spec.target]].copy()
            raw["dteday"] = raw["dteday"].dt.strftime("%Y-%m-%d")
            out.append(json.dumps({"rows": raw.to_dict("records")}).encode())
        else:
            features = build_features(chunk, spec)
            out.append(json.dumps({"dataframe_split": features.to_dict("split")}).encode())
    return out


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    path: str
    ours: bool


def launch(
    servers: list[tuple[Server, list[str], str]], env: dict[str, str], home: Path
) -> list[subprocess.Popen[bytes]]:
    """Start servers in order, each ready before the next starts; returns the processes."""
    processes: list[subprocess.Popen[bytes]] = []
    for server, command, ready_path in servers:
        log = home / f"{server.name}.log"
        process = start(command, env, log)
        processes.append(process)
        began = time.monotonic()
        wait_ready(server.port, ready_path, process, log)
        print(f"{server.name}: ready in {time.monotonic() - began:.1f} s", flush=True)
    return processes


def interleaved(
    servers: list[Server], frame: pd.DataFrame, args: argparse.Namespace
) -> dict[tuple[str, int, int], list[Result]]:
    """Every scenario on every server, round after round, alternating servers.

    The machine's background load drifts; alternating spreads the drift over both servers.
    Returns every round's result per (server, rows, concurrency), in round order.
    """
    scenarios = [(rows, c) for rows in (1, 100) for c in args.concurrency]
    bodies = {(s.ours, rows): bodies_for(frame, rows, s.ours) for s in servers for rows in (1, 100)}
    runs: dict[tuple[str, int, int], list[Result]] = {}
    for round_no in range(args.rounds):
        # The order rotates: whoever runs right after another server inherits its leftovers
        # (a log flush, a collection), so no server may always sit in the same place.
        turn = round_no % len(servers)
        order = servers[turn:] + servers[:turn]
        for rows, concurrency in scenarios:
            requests = args.requests if rows == 1 else max(100, args.requests // 5)
            for server in order:
                if server.name == "shadow" and (rows, concurrency) != (1, 1):
                    continue
                time.sleep(args.settle)  # past the service's 1 s log flush and the previous run
                result = measure(
                    server.name,
                    server.port,
                    server.path,
                    bodies[(server.ours, rows)],
                    rows,
                    concurrency,
                    requests,
                )
                runs.setdefault((server.name, rows, concurrency), []).append(result)
                print(
                    f"  round {round_no + 1} {server.name:>7} rows={rows:<3} c={concurrency}: "
                    f"{result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                    f"errors {result.errors}",
                    flush=True,
                )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=1500, help="1-row requests per scenario (100-row: a fifth)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before each measurement")
    parser.add_argument("--quick", action="store_true", help="400 requests, one round")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 400, 1
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        home = Path(tmp)
        print("training and registering the bike_sharing model ...", flush=True)
        env, frame = prepare(home)
        python = sys.executable
        service = Server("service", free_port(), "/v1/predict", True)
        shadow = Server("shadow", free_port(), "/v1/predict", True)
        mlflow = Server("mlflow", free_port(), "/invocations", False)
        ours = [python, "-m", "mlops_pipelines.serving", "--project", PROJECT, "--canary-share", "0"]
        ours += ["--log-level", "warning"]
        mlflow_cmd = [
            str(Path(python).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{PROJECT}@champion",
        ]
        mlflow_cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow.port)]
        # mlflow last: `mlflow models serve -m models:/...` writes a `registered_model_meta` file
        # into the registered artifact directory, after which the sha256 check refuses the
        # version; this service's instances have loaded and verified it by then.
        processes = launch(
            [
                (service, [*ours, "--no-shadow", "--port", str(service.port)], "/readyz"),
                (shadow, [*ours, "--shadow", "--port", str(shadow.port)], "/readyz"),
                (mlflow, mlflow_cmd, "/ping"),
            ],
            env,
            home,
        )
        for server in (service, shadow):
            print(f"{server.name}: {runtime_of(server.port)}", flush=True)
        try:
            runs = interleaved([service, mlflow, shadow], frame, args)
        finally:
            for process in processes:
                stop(process)
    report(runs, args.concurrency)


_rps, _p50, _p99 = attrgetter("rps"), attrgetter("p50_ms"), attrgetter("p99_ms")


def _median(values: list[float]) -> float:
    return float(np.median(values))


def report(runs: dict[tuple[str, int, int], list[Result]], concurrency: list[int]) -> None:
    """Numbers: the median over rounds. Ratios: the median of each round's own ratio.

    A round measures both servers back to back, under the same background load; pairing
    them keeps a noisy minute on this shared machine from landing on one side only.
    """
    from harness import print_goals, save_results

    def paired(a: str, b: str, rows: int, c: int, value: Callable[[Result], float]) -> float:
        pairs = zip(runs[(a, rows, c)], runs[(b, rows, c)], strict=True)
        return _median([value(x) / value(y) for x, y in pairs])

    def med(name: str, rows: int, c: int, value: Callable[[Result], float]) -> float:
        return _median([value(r) for r in runs[(name, rows, c)]])

    print()
    header = f"{'rows':>4} {'conc':>4} | {'service req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
    header += f"{'mlflow req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | {'x throughput':>12} {'p99 ratio':>9}"
    print(header)
    print("-" * len(header))
    goals: list[tuple[str, float | None, float]] = []
    for rows in (1, 100):
        for c in concurrency:
            cells = [
                med(name, rows, c, metric) for name in ("service", "mlflow") for metric in (_rps, _p50, _p99)
            ]
            speedup = paired("service", "mlflow", rows, c, _rps)
            p99_ratio = paired("service", "mlflow", rows, c, _p99)
            print(
                f"{rows:>4} {c:>4} | {cells[0]:>13.1f} {cells[1]:>7.2f} {cells[2]:>7.2f} | "
                f"{cells[3]:>12.1f} {cells[4]:>7.2f} {cells[5]:>7.2f} | {speedup:>12.2f} {p99_ratio:>9.2f}"
            )
            # Goals: >= 3x mlflow's throughput and <= half its p99, as lower-is-better ratios.
            goals.append((f"throughput mlflow/service, {rows} row(s), {c} client(s)", 1 / speedup, 1 / 3))
            goals.append((f"p99 service/mlflow, {rows} row(s), {c} client(s)", p99_ratio, 0.5))
    shadow_cost = paired("shadow", "service", 1, 1, _p50)
    print()
    print(
        f"shadow on (challenger scored off the response path), 1 row, c=1: p50 "
        f"{med('shadow', 1, 1, _p50):.2f} ms vs {med('service', 1, 1, _p50):.2f} ms off "
        f"(paired ratio {shadow_cost:.2f})"
    )
    goals.append(("p50 shadow on / off, 1 row, 1 client", shadow_cost, 1.10))
    print(f"non-200 answers: {sum(r.errors for results in runs.values() for r in results)}")
    print("(numbers: median over rounds; ratios: median of per-round service / mlflow ratios)")
    verdicts = print_goals(goals)
    save_results(
        "serving",
        {
            "results": [asdict(r) | {"rps": r.rps} for results in runs.values() for r in results],
            "goals": verdicts,
        },
    )


if __name__ == "__main__":
    main()
