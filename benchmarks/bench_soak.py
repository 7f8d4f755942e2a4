"""Soak: the service at twice its measured peak rate for a minute, with shadow, canary and two hot swaps.

    .venv/bin/python benchmarks/bench_soak.py [--seconds 60] [--overload 2.0] [--quick]

1. registers two bike_sharing versions (bench_serving.prepare: v1 champion, v2 challenger);
2. starts `python -m mlops_pipelines.serving` with shadow on and a 10 % canary;
3. baseline, same run: the peak rate, 1-row requests from 32 back-to-back connections for 10 s;
4. soak: 1-row requests paced (open loop) at `--overload` x that peak for `--seconds`, while
   the champion alias moves to v2 (v1 becomes the challenger) at 1/3 and back at 2/3; the
   server's RSS (process plus its log-writer child) is sampled every second;
5. SIGTERM; the prediction log must hold one champion/canary row per 200 answer.

Reports answers by status (the only allowed failures are the service's intended 503s:
queue full or uvicorn's concurrency limit), p50/p99 of answered requests (from their
scheduled send time), RSS over time and its growth after the warm-up (first 10 s), swaps
seen, and the ratios of soak to peak.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_serving import PROJECT, bodies_for, prepare
from bench_serving_client import free_port, start, stop, wait_ready
from bench_soak_client import Tally, closed_loop, paced_processes, request_bytes, server_side
from harness import print_goals, print_table, save_results

WARM_UP_SECONDS = 10.0
MAX_RSS_GROWTH = 0.10


def rss_mb(pid: int) -> float:
    """Resident MB of `pid` and its children (the prediction-log writer), from /proc."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
        for each in pids:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def swap_aliases(home: Path, champion: str, challenger: str) -> None:
    from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
    from mlops_pipelines.settings import load_settings

    settings = load_settings({"MLOPS_HOME": str(home)})
    config = TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)
    with open_client(config) as client:
        client.set_registered_model_alias(PROJECT, "champion", champion)
        client.set_registered_model_alias(PROJECT, "challenger", challenger)


def soak(
    port: int, pid: int, home: Path, requests: list[bytes], rate: float, seconds: float, processes: int
) -> tuple[Tally, list[tuple[float, float]], list[float]]:
    samples: list[tuple[float, float]] = []
    swaps: list[float] = []
    done = threading.Event()
    began = time.perf_counter()

    def background() -> None:
        plan = [(seconds / 3, ("2", "1")), (2 * seconds / 3, ("1", "2"))]
        while not done.wait(1.0):
            now = time.perf_counter() - began
            samples.append((now, rss_mb(pid)))
            if plan and now >= plan[0][0]:
                _, (champion, challenger) = plan.pop(0)
                swap_aliases(home, champion, challenger)
                swaps.append(now)

    watcher = threading.Thread(target=background, daemon=True)
    watcher.start()
    tally = paced_processes(port, requests, rate, seconds, connections=400, processes=processes)
    done.set()
    watcher.join(30)
    return tally, samples, swaps


def log_rows(home: Path) -> dict[str, int]:
    from mlops_pipelines.lib.lake import read
    from mlops_pipelines.settings import load_settings

    log = read(load_settings({"MLOPS_HOME": str(home)}).table_uri(PROJECT, "predictions"))
    return {str(k): int(v) for k, v in log["route"].value_counts().items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--overload", type=float, default=2.0, help="soak rate as a multiple of the peak")
    parser.add_argument("--quick", action="store_true", help="20 s soak")
    parser.add_argument("--client-processes", type=int, default=2, help="load generator processes")
    args = parser.parse_args()
    seconds = 20.0 if args.quick else args.seconds
    home = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    env, frame = prepare(home)
    requests = [request_bytes("/v1/predict", b) for b in bodies_for(frame, 1, ours=True)]
    port = free_port()
    command = [sys.executable, "-m", "mlops_pipelines.serving", "--project", PROJECT, "--port", str(port)]
    command += ["--poll-seconds", "1", "--shadow", "--canary-share", "0.1", "--log-level", "warning"]
    process = start(command, env, home / "server.log")
    try:
        wait_ready(port, "/readyz", process, home / "server.log")
        warm = asyncio.run(closed_loop(port, requests, 32, 3.0))
        peak = asyncio.run(closed_loop(port, requests, 32, 10.0))
        peak_rate = peak.total / peak.seconds
        print(
            f"peak: {peak_rate:,.0f} req/s closed loop; soak at {args.overload:g}x for {seconds:.0f} s",
            flush=True,
        )
        tally, samples, swaps = soak(
            port, process.pid, home, requests, args.overload * peak_rate, seconds, args.client_processes
        )
        served, inside_p50, inside_p99 = server_side(port)
    finally:
        stop(process)
    routes = log_rows(home)
    failed = tally.total - tally.statuses[200] - tally.statuses[503]
    answered = warm.statuses[200] + peak.statuses[200] + tally.statuses[200]  # every phase logs
    sent_rate = tally.total / tally.seconds
    after = [mb for t, mb in samples if t >= WARM_UP_SECONDS]
    growth = (after[-1] - after[0]) / after[0] if len(after) >= 2 else None
    print_table(
        "Soak: answers, latency (from the scheduled send time) and throughput",
        ["phase", "sent", "200", "503", "failed", "p50 ms", "p99 ms", "p50 sent", "p99 sent", "200/s"],
        [
            (
                "peak (closed loop)",
                peak.total,
                peak.statuses[200],
                peak.statuses[503],
                peak.total - peak.statuses[200] - peak.statuses[503],
                peak.percentile_ms(50),
                peak.percentile_ms(99),
                peak.percentile_ms(50, since_sent=True),
                peak.percentile_ms(99, since_sent=True),
                peak.statuses[200] / peak.seconds,
            ),
            (
                f"soak {args.overload:g}x",
                tally.total,
                tally.statuses[200],
                tally.statuses[503],
                failed,
                tally.percentile_ms(50),
                tally.percentile_ms(99),
                tally.percentile_ms(50, since_sent=True),
                tally.percentile_ms(99, since_sent=True),
                tally.statuses[200] / tally.seconds,
            ),
        ],
    )
    print(
        f"statuses {dict(tally.statuses)}; transport errors {dict(tally.errors)}; swaps at {[round(s) for s in swaps]} s"
    )
    print(
        "RSS MB (server + log writer), every 10 s: "
        + ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in samples[::10])
    )
    print(
        f"soak: scheduled {args.overload * peak_rate:,.0f} req/s, sent {sent_rate:,.0f} req/s "
        f"({sent_rate / peak_rate:.2f}x the peak) over {tally.seconds:.0f} s"
    )
    print(f"prediction log rows by route: {routes}; 200 answers in all phases {answered}")
    print(
        f"the service's own count (all phases): {served}; in-service latency p50 <= {inside_p50} ms, "
        f"p99 <= {inside_p99} ms (histogram bucket bounds)"
    )
    # A request the client gave up on may still have been answered and logged: only missing rows count.
    logged = routes.get("champion", 0) + routes.get("canary", 0)
    goals = print_goals(
        [
            ("soak failed requests (not 200, not 503) per answer", failed / max(tally.total, 1), 0.0),
            (f"RSS growth after {WARM_UP_SECONDS:.0f} s warm-up", growth, MAX_RSS_GROWTH),
            ("prediction-log rows missing per 200 answer", max(0, answered - logged) / max(answered, 1), 0.0),
        ]
    )
    save_results(
        "soak",
        {
            "peak_rps": peak_rate,
            "soak_rate": args.overload * peak_rate,
            "seconds": seconds,
            "statuses": dict(tally.statuses),
            "transport_errors": dict(tally.errors),
            "p50_ms": tally.percentile_ms(50),
            "p99_ms": tally.percentile_ms(99),
            "p50_ms_since_sent": tally.percentile_ms(50, since_sent=True),
            "p99_ms_since_sent": tally.percentile_ms(99, since_sent=True),
            "sent_rps": sent_rate,
            "server_statuses": served,
            "server_p50_ms_bucket": inside_p50,
            "server_p99_ms_bucket": inside_p99,
            "answered_all_phases": answered,
            "peak_p50_ms": peak.percentile_ms(50),
            "peak_p99_ms": peak.percentile_ms(99),
            "rss_mb": samples,
            "rss_growth": growth,
            "swaps_at": swaps,
            "log_rows": routes,
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
