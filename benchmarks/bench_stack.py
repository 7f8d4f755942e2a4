"""The production-shaped stack against the embedded path: cycle, backfill, workers, sensor, data size.

    python benchmarks/bench_stack.py [--quick] [--repeats 2] [--workers 1,2,4]
                                     [--rows 100000,1000000] [--sensor-interval 10]

Starts a private stack with the real CLI (`mlops-pipelines stack up`: its own state directory,
databases `mlops_bench_<tag>_dagster` / `_mlflow` on the loopback PostgreSQL, free ports, Redis as
Celery broker) and always tears it down (`stack down --drop`, also on an error, Ctrl-C or
SIGTERM). Runs on the stack are launched through the webserver's GraphQL, queued, dequeued by the
daemon, and their steps executed by the Celery workers, as in production. The embedded path is
the CLI's own: `mlops-pipelines demo`, and `runner.run_job` (in-process executor) in a fresh
process on a SQLite instance (`harness.instance_template`) with MLflow on SQLite.

Projects (written into a private MLOPS_PROJECTS_DIR): `stack_bench`, demand_sim shrunk to 60
days of 2 rows an hour (48 rows a day) with its concept change on 2024-01-18 and a small model
search; and one `stack_rows_<n>` per `--rows` size: demand_sim over 14 days (the simulator's
minimum) with `rows_per_hour = ceil(n / 336)`, so the 14 partitions hold ~n rows (its sensor
never retrains).

(0) Setup, timed and reported: the demo replay of stack_bench up to 2024-01-19 (14 + 5
    partitions, the first model, drift after the concept change) on both paths: `stack demo`
    vs `demo` in a fresh process. Both leave a champion, which the daily cycle needs.
(1) The daily cycle (`stack_bench__daily`: raw, validated, features, predictions, drift; the
    demo's run config, no Evidently HTML) of partition 2024-01-20: on the stack (submit to
    finished, as the client sees it) vs embedded (a fresh process running `run_job`),
    interleaved, median of --repeats.
(2) A 28-partition backfill (2024-01-21..2024-02-17) of the daily job as ONE partition-range run,
    which is how the product runs a range (the assets carry BackfillPolicy.single_run; the demo
    and `stack demo` launch blocks the same way): stack vs embedded.
(3) The same 28 partitions as 4 range runs of 7 launched together (MLOPS_STACK_MAX_RUNS=4), with
    each Celery worker at 1, 2 and 4 pool processes (MLOPS_STACK_WORKER_CONCURRENCY; the workers
    are restarted between settings). One range run is a chain of steps and cannot use a second
    worker process; split runs can. Baseline: 1 process, same run.
(4) The retraining sensor on the daemon, its interval shortened (MLOPS_SENSOR_INTERVAL_SECONDS,
    --sensor-interval): for every retrain the daemon's tick launched during (0), the seconds from
    the newest run of the project that had finished before it (the signal that completed the
    trigger: the drift run, or the labels run that confirmed it) to the retrain run being created,
    and from the newest daily (drift) run. Goal: latency <= 1 sensor interval.
(5) Growing data: for each `--rows` size, on freshly started workers (so VmHWM starts over):
    ingestion (the data job over the 14 partitions as one range run), training (the retrain job:
    bootstrap as of the 12th partition: 8 window + 3 holdout partitions, after the label delay) and monitoring
    (predictions + drift of the last 2 partitions). Peak RSS of each Celery worker process
    (VmHWM from /proc, sampled every 0.5 s over each worker's process tree). Goals: peak RSS of
    one worker process <= 8 GB at the largest size; time grows at most 1.2x as fast as rows (10x
    the rows in <= 12x the time). The default sizes, 100k and 1M rows (10x), fit the time budget
    of a 2-core machine; `--rows 1000000,10000000` runs the 10M case.

The growth measurement stops (and the stack is torn down) if the machine's available memory falls
below 2 GB, rather than let the OOM killer pick another user's process on a shared machine.
Everything shares 2 cores with PostgreSQL, MLflow, the daemon (ticking every project's sensor at
the shortened interval throughout) and the webserver: the stack's numbers include that.
`--quick`: 1 repeat, workers 1 and 2, rows 20k and 200k (a few minutes plus the demo replays).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from harness import (
    BenchError,
    fresh_dir,
    instance_template,
    measure,
    note,
    print_goals,
    print_table,
    python,
    ratio,
    remove,
    report,
    save_results,
    self_peak_mb,
    state_env,
    step_seconds,
)

from mlops_pipelines import names

if TYPE_CHECKING:
    import dagster as dg

    from mlops_pipelines.stack.config import StackConfig

PACKAGED = Path(__file__).resolve().parents[1] / "mlops_pipelines" / "projects"
PROJECT = "stack_bench"
UNTIL = "2024-01-19"
CYCLE_KEY = "2024-01-20"
BACKFILL = ("2024-01-21", "2024-02-17")  # 28 daily partitions
SPLITS = 4
ROWS_DAYS = 14  # the simulator's minimum
ROWS_AS_OF = "2024-01-12"
ROWS_MONITOR = ("2024-01-13", "2024-01-14")
USERNAME = "mlops_admin"
RSS_GOAL_MB = 8 * 1024
GROWTH_GOAL_PER_10X = 12.0
SENSOR_NAME_TAG = "dagster/sensor_name"
RUN_DEADLINE_SECONDS = 3600
# The machine is shared: below this much available memory the measurement stops (and the stack is
# torn down) rather than let the kernel's OOM killer pick someone else's process.
MEMORY_FLOOR_MB = 2048
LOW_MEMORY = threading.Event()
QUIET = {"console": {"config": {"log_level": "WARNING"}}}
_STOP_SENSOR = """mutation($origin: String!, $selector: String!) {
  stopSensor(jobOriginId: $origin, jobSelectorId: $selector) { __typename } }"""


# --- projects ------------------------------------------------------------------------------------


def _demand_sim() -> dict[str, Any]:
    return dict(yaml.safe_load((PACKAGED / "demand_sim.yaml").read_text(encoding="utf-8")))


def _small_training(spec: dict[str, Any], window: int, holdout: int) -> None:
    spec["training"].update(
        {
            "window_partitions": window,
            "holdout_partitions": holdout,
            "cv_folds": 2,
            "search_space": {"model__max_iter": [30], "model__learning_rate": [0.1]},
            "search_iterations": 1,
        }
    )


def bench_project() -> dict[str, Any]:
    """demand_sim over 60 days of 48 rows, concept change 2024-01-18 (as the stack tests' project)."""
    spec = _demand_sim()
    spec["name"] = PROJECT
    spec["source"]["simulator"].update({"days": 60, "rows_per_hour": 2, "concept_change": "2024-01-18"})
    spec["partitions"]["end"] = "2024-02-29"
    _small_training(spec, 12, 4)
    return spec


def rows_project_name(rows: int) -> str:
    return f"stack_rows_{rows}"


def rows_project(rows: int) -> dict[str, Any]:
    """demand_sim over 14 days holding ~`rows` rows; its sensor never asks for a retrain."""
    spec = _demand_sim()
    spec["name"] = rows_project_name(rows)
    per_hour = math.ceil(rows / (24 * ROWS_DAYS))
    spec["source"]["simulator"].update(
        {"days": ROWS_DAYS, "rows_per_hour": per_hour, "concept_change": "2024-03-01"}
    )
    spec["partitions"]["end"] = f"2024-01-{ROWS_DAYS + 1:02d}"  # exclusive
    _small_training(spec, 8, 3)
    spec["drift"].update({"reference_partitions": 4, "current_window_partitions": 1})
    spec["retraining"] = {"consecutive_drift": 999}
    return spec


def write_projects(directory: Path, sizes: Sequence[int]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for spec in [bench_project(), *(rows_project(n) for n in sizes)]:
        path = directory / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def drift_config(project: str) -> dict[str, Any]:
    """The demo's daily-run config: drift judged, no Evidently HTML; console quiet."""
    return {"ops": {names.scoped(project, names.DRIFT): {"config": {"report": "never"}}}, "loggers": QUIET}


# --- the embedded path (fresh processes) -----------------------------------------------------------


def child(task: dict[str, Any]) -> dict[str, Any]:
    """One embedded run in a fresh process: `run_job`, in-process executor, SQLite instance."""
    started = time.perf_counter()
    import dagster as dg

    from mlops_pipelines.definitions import build_definitions
    from mlops_pipelines.runner import run_job
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[task["project"]]
    defs = build_definitions({spec.name: spec})
    out: dict[str, Any] = {}
    with dg.DagsterInstance.get() as instance:
        out["setup_s"] = time.perf_counter() - started
        began = time.perf_counter()
        result = run_job(
            defs,
            names.scoped(spec.name, task["job"]),
            instance,
            task["first"],
            task["last"],
            run_config=task["config"],
        )
        out["work_s"] = time.perf_counter() - began
        if not result.success:
            failed = [e.message for e in result.all_events if e.is_step_failure]
            raise RuntimeError(f"{task['job']} failed: {failed}")
        out["steps"] = step_seconds(instance, result.run_id)
    out["peak_mb_self"] = self_peak_mb()
    return out


class Embedded:
    """The CLI's own path on a private MLOPS_HOME (SQLite instance, MLflow on SQLite)."""

    def __init__(self, root: Path, projects: Path) -> None:
        self.instance = instance_template()
        self.home = root / "embedded"
        self.env = state_env(self.home, instance=self.instance, extra={"MLOPS_PROJECTS_DIR": str(projects)})

    def demo(self) -> float:
        started = time.perf_counter()
        argv = [
            python(),
            "-m",
            "mlops_pipelines.cli",
            "demo",
            "--project",
            PROJECT,
            "--until",
            UNTIL,
            "--json",
        ]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"embedded demo failed:\n{done.stderr[-3000:]}\n{done.stdout[-1000:]}")
        return time.perf_counter() - started

    def run(self, job: str, first: str, last: str) -> dict[str, Any]:
        task = {"project": PROJECT, "job": job, "first": first, "last": last, "config": drift_config(PROJECT)}
        sample = measure([python(), __file__, "--child", json.dumps(task)], env=self.env, timeout=1800)
        return {
            "wall_s": sample.seconds,
            "work_s": sample.result.get("work_s"),
            "setup_s": sample.result.get("setup_s"),
            "cpu_s": sample.cpu_s,
            "peak_mb": sample.peak_mb,
            "steps": sample.result.get("steps", {}),
        }

    def close(self) -> None:
        remove(self.instance.parent)
        remove(self.home)


# --- the stack -------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """A private stack started and stopped with the real CLI."""

    def __init__(self, root: Path, projects: Path, sensor_interval: int) -> None:
        tag = uuid.uuid4().hex[:10]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_", "DAGSTER_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "MLOPS_HOME": str(root / "home"),
                "MLOPS_STACK_DIR": str(root / "stack"),
                "MLOPS_STACK_DAGSTER_DB": f"mlops_bench_{tag}_dagster",
                "MLOPS_STACK_MLFLOW_DB": f"mlops_bench_{tag}_mlflow",
                "MLOPS_STACK_WEBSERVER_PORT": str(free_port()),
                "MLOPS_STACK_MLFLOW_PORT": str(free_port()),
                "MLOPS_STACK_CODE_SERVER_PORT": str(free_port()),
                "MLOPS_STACK_MAX_RUNS": str(SPLITS),
                "MLOPS_STACK_WORKER_CONCURRENCY": "1",
                "MLOPS_PROJECTS_DIR": str(projects),
                "MLOPS_SENSOR_INTERVAL_SECONDS": str(sensor_interval),
                "MLFLOW_TRACKING_USERNAME": USERNAME,
                "MLFLOW_TRACKING_PASSWORD": "bench-stack-" + uuid.uuid4().hex[:12],
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env = env
        self.config: StackConfig | None = None
        self._instance: dg.DagsterInstance | None = None

    def cli(self, *args: str, extra: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python(), "-m", "mlops_pipelines.cli", *args],
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            check=False,
        )

    def up(self, concurrency: int = 1) -> float:
        from mlops_pipelines.stack.config import stack_config

        self.env["MLOPS_STACK_WORKER_CONCURRENCY"] = str(concurrency)
        started = time.perf_counter()
        done = self.cli("stack", "up")
        if done.returncode != 0:
            raise BenchError(f"stack up failed:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}")
        self.config = stack_config(environ=self.env)
        return time.perf_counter() - started

    @property
    def instance(self) -> dg.DagsterInstance:
        import dagster as dg

        if self._instance is None:
            assert self.config is not None
            self._instance = dg.DagsterInstance.from_config(str(self.config.dagster_home))
        return self._instance

    def restart_workers(self, concurrency: int) -> float:
        """Stop both Celery workers and start them again with `concurrency` pool processes each."""
        from mlops_pipelines.stack import processes
        from mlops_pipelines.stack.commands import QUEUES, worker_name

        assert self.config is not None
        for queue in QUEUES:
            processes.stop(worker_name(queue), self.config.pids_dir)
        return self.up(concurrency)

    def worker_pids(self) -> dict[str, int]:
        from mlops_pipelines.stack import processes
        from mlops_pipelines.stack.commands import QUEUES, worker_name

        assert self.config is not None
        found = {q: processes.read_pid(self.config.pids_dir, worker_name(q)) for q in QUEUES}
        return {q: pid for q, pid in found.items() if pid is not None}

    def launch(
        self,
        job: str,
        first: str | None = None,
        last: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        asset_selection: list[Any] | None = None,
    ) -> str:
        from dagster_graphql import DagsterGraphQLClient

        from mlops_pipelines.stack.files import LOCATION_NAME

        assert self.config is not None
        all_tags = dict(tags or {})
        if first is not None and last in (None, first):
            all_tags[names.PARTITION_TAG] = first
        elif first is not None and last is not None:
            all_tags.update({names.RANGE_START_TAG: first, names.RANGE_END_TAG: last})
        client = DagsterGraphQLClient(self.config.host, port_number=self.config.webserver_port)
        return client.submit_job_execution(
            job,
            repository_location_name=LOCATION_NAME,
            run_config=dict(run_config or {}),
            tags=all_tags,
            asset_selection=asset_selection,
        )

    def wait(self, run_ids: Sequence[str], submitted: float) -> dict[str, Any]:
        """Poll until every run has finished; the client's wall time and each run's own times."""
        deadline = time.monotonic() + RUN_DEADLINE_SECONDS
        pending, finished_at = set(run_ids), 0.0
        while pending:
            for run_id in list(pending):
                record = self.instance.get_run_record_by_id(run_id)
                if record is not None and record.dagster_run.is_finished:
                    pending.discard(run_id)
                    finished_at = time.perf_counter()
            if LOW_MEMORY.is_set():
                raise BenchError(f"stopped: less than {MEMORY_FLOOR_MB} MB of memory left on the machine")
            if pending and time.monotonic() > deadline:
                raise BenchError(f"runs {sorted(pending)} not finished after {RUN_DEADLINE_SECONDS} s")
            if pending:
                time.sleep(0.25)
        runs = []
        for run_id in run_ids:
            record = self.instance.get_run_record_by_id(run_id)
            assert record is not None
            created = record.create_timestamp.timestamp()
            runs.append(
                {
                    "run_id": run_id,
                    "status": record.dagster_run.status.value,
                    "queued_s": (record.start_time or created) - created,
                    "run_s": (record.end_time or 0) - (record.start_time or 0),
                    "steps": step_seconds(self.instance, run_id),
                    "errors": [] if record.dagster_run.status.value == "SUCCESS" else self.errors(run_id),
                }
            )
        return {
            "wall_s": finished_at - submitted,
            "ok": all(r["status"] == "SUCCESS" for r in runs),
            "runs": runs,
        }

    def errors(self, run_id: str) -> list[str]:
        """The failure messages of a run that did not succeed (its steps' errors first)."""
        found = []
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.event_type_value not in ("STEP_FAILURE", "RUN_FAILURE"):
                continue
            error = getattr(event.event_specific_data, "error", None)
            while error is not None and error.cause is not None:
                error = error.cause  # the step's own exception, not Dagster's wrapper
            found.append(f"{entry.step_key or 'run'}: {(error.message if error else entry.message)[:300]}")
        return found[-4:]

    def run(self, job: str, first: str | None, last: str | None, **kwargs: Any) -> dict[str, Any]:
        submitted = time.perf_counter()
        run_id = self.launch(job, first, last, **kwargs)
        return self.wait([run_id], submitted)

    def stop_sensor(self, sensor: str) -> None:
        import requests
        from dagster._core.scheduler.instigation import InstigatorType

        assert self.config is not None
        for state in self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == sensor and state.is_running:
                variables = {"origin": state.instigator_origin_id, "selector": state.selector_id}
                requests.post(
                    f"{self.config.webserver_url}/graphql",
                    json={"query": _STOP_SENSOR, "variables": variables},
                    timeout=60,
                ).raise_for_status()

    def down(self) -> None:
        """`stack down --drop`; if the CLI cannot (nothing was written yet), drop the databases directly."""
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None
        done = self.cli("stack", "down", "--drop")
        if done.returncode == 0:
            note("stack: down, databases dropped")
            return
        note(f"stack down --drop: {done.stderr.strip()[-500:]}; dropping the databases directly")
        from mlops_pipelines.stack.config import stack_config
        from mlops_pipelines.stack.services import drop_databases

        drop_databases(stack_config(environ=self.env))


# --- per-process peak RSS of the Celery workers ----------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def descendants(roots: Sequence[int]) -> dict[int, int]:
    """Every live process under each root (root included), mapped to its root."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    owner = {root: root for root in roots if root in parents}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if pid not in owner and parent in owner:
                owner[pid] = owner[parent]
                changed = True
    return owner


def available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class RssSampler:
    """Samples VmHWM (peak RSS) of every process of each worker tree, and the tree's summed VmRSS."""

    def __init__(self, workers: Mapping[str, int], every: float = 0.5) -> None:
        self.workers, self.every = dict(workers), every
        self.hwm_kb: dict[int, int] = {}
        self.owner: dict[int, int] = {}
        self.tree_kb: dict[int, int] = dict.fromkeys(self.workers.values(), 0)
        self.stage = ""
        self.stage_peak_mb: dict[str, float] = {}  # largest single worker process's VmRSS, per stage
        self.min_available_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        owner = descendants(list(self.workers.values()))
        sums: dict[int, int] = {}
        for pid, root in owner.items():
            self.owner[pid] = root
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
            rss = _status_kb(pid, "VmRSS")
            sums[root] = sums.get(root, 0) + rss
            if self.stage:
                self.stage_peak_mb[self.stage] = max(self.stage_peak_mb.get(self.stage, 0.0), rss / 1024)
        available = available_mb()
        if available is not None:
            self.min_available_mb = min(self.min_available_mb or available, available)
            if available < MEMORY_FLOOR_MB:
                LOW_MEMORY.set()
        for root, total in sums.items():
            self.tree_kb[root] = max(self.tree_kb.get(root, 0), total)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def by_queue(self) -> dict[str, dict[str, float]]:
        out = {}
        for queue, root in self.workers.items():
            mine = [kb for pid, kb in self.hwm_kb.items() if self.owner.get(pid) == root]
            out[queue] = {
                "process_peak_mb": max(mine, default=0) / 1024,
                "processes": len(mine),
                "tree_peak_mb": self.tree_kb.get(root, 0) / 1024,
            }
        return out


# --- the measurements ------------------------------------------------------------------------------


def sensor_latency(stack: Stack, since: float) -> list[dict[str, Any]]:
    """Each retrain the daemon's sensor launched for PROJECT: how long after its signal."""
    import dagster as dg

    sensor = names.scoped(PROJECT, names.RETRAIN_SENSOR)
    records = stack.instance.get_run_records(filters=dg.RunsFilter(tags={SENSOR_NAME_TAG: sensor}))
    others = [
        r
        for r in stack.instance.get_run_records()
        if r.dagster_run.job_name.startswith(PROJECT + "__")
        and SENSOR_NAME_TAG not in r.dagster_run.tags
        and r.end_time is not None
    ]
    out = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        created = record.create_timestamp.timestamp()
        if created < since:
            continue
        before = [r for r in others if r.end_time is not None and r.end_time <= created]
        daily = [r for r in before if r.dagster_run.job_name == names.scoped(PROJECT, names.DAILY_JOB)]
        last = max(before, key=lambda r: r.end_time or 0.0) if before else None
        last_daily = max(daily, key=lambda r: r.end_time or 0.0) if daily else None
        out.append(
            {
                "run_id": record.dagster_run.run_id,
                "trigger": record.dagster_run.tags.get(names.TRIGGER_TAG),
                "last_signal_job": last.dagster_run.job_name if last else None,
                "from_last_signal_s": created - (last.end_time or 0.0) if last else None,
                "from_drift_run_s": created - (last_daily.end_time or 0.0) if last_daily else None,
            }
        )
    return out


def growth(stack: Stack, rows: int) -> dict[str, Any]:
    """Ingest, train and monitor `rows` rows on the stack, workers freshly started."""
    import dagster as dg

    project = rows_project_name(rows)
    model_op = names.scoped(project, names.MODEL)
    first, last = "2024-01-01", f"2024-01-{ROWS_DAYS:02d}"
    stack.restart_workers(1)
    stages: dict[str, Any] = {}
    with RssSampler(stack.worker_pids()) as sampler:
        sampler.stage = "ingest"
        stages["ingest"] = stack.run(names.scoped(project, names.DATA_JOB), first, last)
        tags = {
            names.KIND_TAG: names.KIND_BOOTSTRAP,
            names.TRIGGER_TAG: ROWS_AS_OF,
            names.AS_OF_TAG: ROWS_AS_OF,
            names.RUN_KEY_TAG: f"bootstrap:{ROWS_AS_OF}:{uuid.uuid4().hex[:6]}",
        }
        config = {"ops": {model_op: {"config": {"as_of": ROWS_AS_OF, "reason": "bench: first model"}}}}
        sampler.stage = "train"
        stages["train"] = stack.run(
            names.scoped(project, names.RETRAIN_JOB), None, None, run_config=config, tags=tags
        )
        selection = [dg.AssetKey([project, n]) for n in (names.PREDICTIONS, names.DRIFT)]
        sampler.stage = "monitor"
        stages["monitor"] = stack.run(
            names.scoped(project, names.DAILY_JOB),
            *ROWS_MONITOR,
            run_config=drift_config(project),
            asset_selection=selection,
        )
    return {
        "rows": rows,
        "rows_per_hour": math.ceil(rows / (24 * ROWS_DAYS)),
        "stages": stages,
        "total_s": sum(s["wall_s"] for s in stages.values()),
        "ok": all(s["ok"] for s in stages.values()),
        "rss": sampler.by_queue(),
        "stage_peak_mb": sampler.stage_peak_mb,
        "min_available_mb": sampler.min_available_mb,
    }


PARTS = ("demo", "cycle", "backfill", "workers", "growth")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2, help="daily cycles per path (median)")
    parser.add_argument("--workers", default="1,2,4", help="pool processes per Celery worker to compare")
    parser.add_argument("--rows", default="100000,1000000", help="data sizes for (5), comma-separated")
    parser.add_argument("--sensor-interval", type=int, default=10, help="MLOPS_SENSOR_INTERVAL_SECONDS")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="what to measure, of "
        + ",".join(PARTS)
        + " (cycle, backfill and workers need the demo's champion: "
        "demo is added)",
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, workers 1,2, rows 20k,200k")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(child(json.loads(args.child)))
        return
    if args.quick:
        args.repeats, args.workers, args.rows = 1, "1,2", "20000,200000"
    parts = {p for p in args.parts.split(",") if p}
    if parts - set(PARTS):
        parser.error(f"unknown part(s) {sorted(parts - set(PARTS))}; known: {','.join(PARTS)}")
    if parts & {"cycle", "backfill", "workers"}:
        parts.add("demo")
    workers = [int(w) for w in args.workers.split(",") if w]
    sizes = sorted(int(n) for n in args.rows.split(",") if n)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    root = fresh_dir("stack")
    projects = root / "projects"
    write_projects(projects, sizes)
    stack = Stack(root, projects, args.sensor_interval)
    embedded = Embedded(root, projects)
    results: dict[str, Any] = {
        "sensor_interval_s": args.sensor_interval,
        "workers": workers,
        "rows": sizes,
        "parts": sorted(parts),
        "repeats": args.repeats,
    }
    started = time.perf_counter()
    try:
        note(f"bench_stack: starting a private stack under {root}")
        results["stack_up_s"] = stack.up(1)
        note(f"stack up in {results['stack_up_s']:.1f} s")
        if "demo" in parts:
            measure_demo(stack, embedded, results)
        daily = names.scoped(PROJECT, names.DAILY_JOB)
        if "cycle" in parts:
            note(f"(1) daily cycle of {CYCLE_KEY}, {args.repeats} per path, interleaved")
            cycles: dict[str, list[dict[str, Any]]] = {"stack": [], "embedded": []}
            for i in range(args.repeats):
                cycles["stack"].append(
                    stack.run(daily, CYCLE_KEY, CYCLE_KEY, run_config=drift_config(PROJECT))
                )
                cycles["embedded"].append(embedded.run(names.DAILY_JOB, CYCLE_KEY, CYCLE_KEY))
                note(
                    f"  [{i + 1}/{args.repeats}] stack {cycles['stack'][-1]['wall_s']:.1f} s, "
                    f"embedded {cycles['embedded'][-1]['wall_s']:.1f} s"
                )
            results["cycle"] = cycles
        if "backfill" in parts:
            note(f"(2) backfill {BACKFILL[0]}..{BACKFILL[1]} as one range run, stack then embedded")
            results["backfill"] = {
                "stack": stack.run(daily, *BACKFILL, run_config=drift_config(PROJECT)),
                "embedded": embedded.run(names.DAILY_JOB, *BACKFILL),
            }
        if "workers" in parts:
            results["split_backfill"] = measure_workers(stack, projects, workers)
        if "growth" in parts:
            note(f"(5) growing data: {sizes} rows")
            results["growth"] = []
            for rows in sizes:
                try:
                    results["growth"].append(growth(stack, rows))
                except BenchError as err:  # e.g. the memory floor: keep the sizes measured so far
                    results["growth_error"] = f"{rows:,} rows: {err}"
                    note(f"  {rows:,} rows: {err}")
                    break
                got = results["growth"][-1]
                note(f"  {rows:,} rows: {got['total_s']:.1f} s, ok {got['ok']}")
    finally:
        results["bench_seconds"] = time.perf_counter() - started
        try:
            stack.down()
        finally:
            embedded.close()
            remove(root)
    summarize(results, args)


def measure_demo(stack: Stack, embedded: Embedded, results: dict[str, Any]) -> None:
    """(0) and (4): the demo replay on both paths; the sensor's latency from the stack's instance."""
    note(f"(0) demo replay to {UNTIL}, stack then embedded")
    demo_started = time.time()
    began = time.perf_counter()
    demo = stack.cli("stack", "demo", "--project", PROJECT, "--until", UNTIL, "--json", "--timeout", "900")
    if demo.returncode != 0:
        raise BenchError(f"stack demo failed:\n{demo.stderr[-3000:]}\n{demo.stdout[-1000:]}")
    results["demo"] = {"stack_s": time.perf_counter() - began, "summary": json.loads(demo.stdout)}
    results["demo"]["embedded_s"] = embedded.demo()
    results["latency"] = sensor_latency(stack, demo_started)
    stack.stop_sensor(names.scoped(PROJECT, names.RETRAIN_SENSOR))  # no retrains in what follows


def measure_workers(stack: Stack, projects: Path, workers: Sequence[int]) -> dict[str, Any]:
    """(3) the backfill split into SPLITS range runs launched together, per worker pool size."""
    from mlops_pipelines.partitions import partition_keys
    from mlops_pipelines.spec import load_spec

    note(f"(3) the backfill as {SPLITS} range runs at once, worker pool processes {list(workers)}")
    daily = names.scoped(PROJECT, names.DAILY_JOB)
    spec = load_spec(projects / f"{PROJECT}.yaml")
    keys = [k for k in partition_keys(spec) if BACKFILL[0] <= k <= BACKFILL[1]]
    size = math.ceil(len(keys) / SPLITS)
    chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
    split: dict[str, Any] = {}
    for count in workers:
        restart_s = stack.restart_workers(count)
        submitted = time.perf_counter()
        run_ids = [stack.launch(daily, c[0], c[-1], run_config=drift_config(PROJECT)) for c in chunks]
        split[str(count)] = {**stack.wait(run_ids, submitted), "restart_s": restart_s}
        note(f"  {count} process(es): {split[str(count)]['wall_s']:.1f} s, ok {split[str(count)]['ok']}")
    return split


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def summarize(results: dict[str, Any], args: argparse.Namespace) -> None:
    goals: list[tuple[str, float | None, float]] = []
    reported: list[str] = []
    if "demo" in results:
        demo = results["demo"]
        print_table(
            f"(0) Setup: demo replay of {PROJECT} to {UNTIL} (19 partitions, first model, drift, the sensor's "
            f"retrains); stack up took {results['stack_up_s']:.1f} s",
            ["path", "wall s", "x embedded"],
            [
                (
                    "stack demo (GraphQL; the daemon ticks the sensor)",
                    demo["stack_s"],
                    ratio(demo["stack_s"], demo["embedded_s"]),
                ),
                ("embedded demo (CLI, in-process; ticks itself)", demo["embedded_s"], 1.0),
            ],
        )
        reported.append(
            f"demo replay stack / embedded (wall): {fmt_ratio(ratio(demo['stack_s'], demo['embedded_s']))}"
        )
    summarize_cycle(results, args, reported)
    if "split_backfill" in results:
        split = results["split_backfill"]
        base = split.get(str(min(results["workers"])), {}).get("wall_s")
        print_table(
            f"(3) the backfill as {SPLITS} range runs of 7 partitions launched together (at most {SPLITS} runs "
            "at once), by pool processes per Celery worker",
            ["pool processes", "wall s", "median run s", "all succeeded", "speedup vs 1"],
            [
                (
                    int(n),
                    got["wall_s"],
                    _median([r["run_s"] for r in got["runs"]]),
                    "yes" if got["ok"] else "NO",
                    ratio(base, got["wall_s"]),
                )
                for n, got in split.items()
            ],
        )
        for n, got in split.items():
            reported.append(
                f"split backfill, {n} pool process(es) / 1 (wall): {fmt_ratio(ratio(got['wall_s'], base))}"
            )
    if "latency" in results:
        interval = float(args.sensor_interval)
        latency = results["latency"]
        print_table(
            f"(4) signal -> retrain run created by the daemon's sensor tick (interval {interval:g} s); last signal "
            "= the newest run of the project finished before it",
            [
                "retrain run",
                "trigger",
                "last signal (job)",
                "from last signal s",
                "from drift run s",
                "x interval",
            ],
            [
                (
                    lat["run_id"][:8],
                    lat["trigger"],
                    (lat["last_signal_job"] or "-").removeprefix(PROJECT + "__"),
                    lat["from_last_signal_s"],
                    lat["from_drift_run_s"],
                    ratio(lat["from_last_signal_s"], interval),
                )
                for lat in latency
            ],
        )
        worst = max((lat["from_last_signal_s"] or 0.0 for lat in latency), default=None)
        goals.append(
            (
                f"sensor latency (worst of {len(latency)}) / interval {interval:g} s",
                ratio(worst, interval),
                1.0,
            )
        )
    if "growth" in results:
        summarize_growth(results["growth"], goals)
    if "growth_error" in results:
        print(f"\n(5) not measured: {results['growth_error']}")
    print()
    for line in reported:
        print(f"(reported, no goal) {line}")
    results["goals"] = print_goals(goals)
    failed = [f"{where}: {error}" for where, errors in _errors(results) for error in errors]
    if failed:
        print("\nruns that failed:\n  " + "\n  ".join(failed))
    results["machine_note"] = "2 cores shared with other work"
    save_results("stack", results)


def _errors(results: dict[str, Any]) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    def visit(where: str, value: Any) -> None:
        if isinstance(value, dict):
            if value.get("errors"):
                found.append((where, value["errors"]))
            for key, inner in value.items():
                visit(f"{where}/{key}", inner)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                visit(f"{where}[{i}]", inner)

    for key in ("cycle", "backfill", "split_backfill", "growth"):
        visit(key, results.get(key))
    return found


def summarize_cycle(results: dict[str, Any], args: argparse.Namespace, reported: list[str]) -> None:
    rows = []
    if "cycle" in results:
        cycles = results["cycle"]
        stack_wall = _median([c["wall_s"] for c in cycles["stack"]])
        embedded_wall = _median([c["wall_s"] for c in cycles["embedded"]])
        rows.append(
            (
                f"(1) daily cycle {CYCLE_KEY}, median of {args.repeats}",
                stack_wall,
                _median([c["runs"][0]["queued_s"] for c in cycles["stack"]]),
                _median([c["runs"][0]["run_s"] for c in cycles["stack"]]),
                embedded_wall,
                _median([c["work_s"] for c in cycles["embedded"]]),
                ratio(stack_wall, embedded_wall),
            )
        )
        reported.append(f"daily cycle stack / embedded (wall): {fmt_ratio(ratio(stack_wall, embedded_wall))}")
    if "backfill" in results:
        b_stack, b_emb = results["backfill"]["stack"], results["backfill"]["embedded"]
        rows.append(
            (
                f"(2) backfill {BACKFILL[0]}..{BACKFILL[1]}, one range run",
                b_stack["wall_s"],
                b_stack["runs"][0]["queued_s"],
                b_stack["runs"][0]["run_s"],
                b_emb["wall_s"],
                b_emb["work_s"],
                ratio(b_stack["wall_s"], b_emb["wall_s"]),
            )
        )
        reported.append(
            f"backfill stack / embedded (wall): {fmt_ratio(ratio(b_stack['wall_s'], b_emb['wall_s']))}"
        )
    if not rows:
        return
    print_table(
        "Stack vs embedded (stack wall = GraphQL submit until the client saw it finished; queued = created until "
        "the run worker started it;\nrun = its start to end; embedded wall = a fresh process running run_job, "
        "work = the run_job call)",
        [
            "measurement",
            "stack wall s",
            "stack queued s",
            "stack run s",
            "embedded wall s",
            "embedded work s",
            "x embedded wall",
        ],
        rows,
    )
    if "cycle" in results:
        stack_steps = results["cycle"]["stack"][0]["runs"][0]["steps"]
        embedded_steps = results["cycle"]["embedded"][0]["steps"]
        print_table(
            "(1) daily cycle by step, first sample (stack: on a Celery worker; embedded: in-process)",
            ["step", "stack s", "embedded s"],
            [
                (s.removeprefix(PROJECT + "__"), stack_steps.get(s), embedded_steps.get(s))
                for s in sorted(set(stack_steps) | set(embedded_steps))
            ],
        )


def summarize_growth(grown: list[dict[str, Any]], goals: list[tuple[str, float | None, float]]) -> None:
    print_table(
        f"(5) growing data on the stack ({ROWS_DAYS} daily partitions; train = as of the 12th; monitor = the last "
        "2); peak MB = largest single process of each Celery worker (VmHWM); tree MB = its processes' summed RSS",
        [
            "rows",
            "ingest s",
            "train s",
            "monitor s",
            "total s",
            "peak MB default",
            "tree MB default",
            "peak MB train",
            "tree MB train",
            "ok",
        ],
        [
            (
                got["rows"],
                got["stages"]["ingest"]["wall_s"],
                got["stages"]["train"]["wall_s"],
                got["stages"]["monitor"]["wall_s"],
                got["total_s"],
                got["rss"].get(names.DEFAULT_QUEUE, {}).get("process_peak_mb"),
                got["rss"].get(names.DEFAULT_QUEUE, {}).get("tree_peak_mb"),
                got["rss"].get(names.TRAIN_QUEUE, {}).get("process_peak_mb"),
                got["rss"].get(names.TRAIN_QUEUE, {}).get("tree_peak_mb"),
                "yes" if got["ok"] else "NO",
            )
            for got in grown
        ],
    )
    if not grown:
        return
    print_table(
        "(5) largest single Celery worker process during each stage (VmRSS, sampled every 0.5 s), MB",
        ["rows", "ingest", "train", "monitor", "least memory available on the machine"],
        [
            (
                got["rows"],
                got["stage_peak_mb"].get("ingest"),
                got["stage_peak_mb"].get("train"),
                got["stage_peak_mb"].get("monitor"),
                got["min_available_mb"],
            )
            for got in grown
        ],
    )
    biggest = grown[-1]
    peak = max((q["process_peak_mb"] for q in biggest["rss"].values()), default=None)
    goals.append(
        (
            f"peak RSS of one Celery worker process at {biggest['rows']:,} rows / 8 GB",
            ratio(peak, RSS_GOAL_MB),
            1.0,
        )
    )
    if len(grown) >= 2:
        small = grown[0]
        factor = biggest["rows"] / small["rows"]
        goals.append(
            (
                f"stack time {biggest['rows']:,} / {small['rows']:,} rows ({factor:g}x rows)",
                ratio(biggest["total_s"], small["total_s"]),
                GROWTH_GOAL_PER_10X / 10 * factor,
            )
        )


if __name__ == "__main__":
    main()
