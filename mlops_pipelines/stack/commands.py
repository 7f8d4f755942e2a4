"""`stack up | status | down`: check the servers, write the configuration, start, report, stop.

`up` checks PostgreSQL and the broker first, so a wrong URL is one error naming its variable
before anything is written or started. It creates the instance schema itself (daemon and
webserver would otherwise race to migrate it), then starts the MLflow server and the code
server (the code location, parent of every run worker), then the daemon, the webserver and one
Celery worker per queue (each with MLOPS_STACK_WORKER_CONCURRENCY pool
processes, default 1), each waited for; if one fails, the ones this call started are stopped
again and the error quotes the end of its log.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_pipelines import names
from mlops_pipelines.stack import processes
from mlops_pipelines.stack.config import StackConfig, StackError
from mlops_pipelines.stack.files import LOCATION_NAME, REPO_ROOT, flask_secret_key, write_all
from mlops_pipelines.stack.processes import ProcessSpec
from mlops_pipelines.stack.services import check_broker, drop_databases, ensure_databases

READY_TIMEOUT_SECONDS = 180.0  # MLflow's server takes ~25 s on 2 idle cores; CI is not idle
QUEUES = (names.DEFAULT_QUEUE, names.TRAIN_QUEUE)
CODE_SERVER = "code-server"
# Variables a worker host needs besides the secrets (stack.env lists them for `source`).
_SECRET_VARS = ("MLFLOW_TRACKING_PASSWORD",)


@dataclass(frozen=True)
class ProcessState:
    name: str
    pid: int | None
    url: str | None
    log: Path


def worker_name(queue: str) -> str:
    return f"worker-{queue}"


def process_specs(config: StackConfig) -> list[ProcessSpec]:
    """Every process of the stack, in start order."""
    bin_dir = Path(sys.executable).parent
    env = config.process_env(os.environ)
    workspace = str(config.state_dir / "workspace.yaml")
    mlflow_env = {
        **env,
        "MLFLOW_AUTH_CONFIG_PATH": str(config.state_dir / "mlflow" / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": config.username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": config.password,
        # Its job runner is 7 more processes for features this project does not use (2 cores).
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY")
        or flask_secret_key(config),
    }
    mlflow = ProcessSpec(
        "mlflow",
        [
            *(str(bin_dir / "mlflow"), "server", "--app-name", "basic-auth", "--host", config.host),
            *("--port", str(config.mlflow_port), "--workers", "1"),
            *("--backend-store-uri", config.database_url(config.mlflow_db)),
            *("--serve-artifacts", "--artifacts-destination", str(config.state_dir / "mlflow" / "artifacts")),
            *("--default-artifact-root", "mlflow-artifacts:/"),
        ],
        mlflow_env,
        ready_url=f"{config.tracking_uri}/health",
        url=config.tracking_uri,
    )
    # The run workers' parent: the daemon launches each run through it, so a daemon crash (kill -9
    # of its process group) leaves in-flight runs running, as on the Helm chart.
    code_server = ProcessSpec(
        CODE_SERVER,
        [
            *(str(bin_dir / "dagster"), "code-server", "start", "-m", "mlops_pipelines.definitions"),
            *("-h", config.host, "-p", str(config.code_server_port), "--location-name", LOCATION_NAME),
        ],
        env,
        ready_log="Started Dagster code proxy server",
        url=f"grpc://{config.host}:{config.code_server_port}",
    )
    daemon = ProcessSpec("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], env)
    webserver = ProcessSpec(
        "webserver",
        [
            str(bin_dir / "dagster-webserver"),
            "-w",
            workspace,
            "-h",
            config.host,
            "-p",
            str(config.webserver_port),
            # The webserver keeps one pooled connection per storage, without a liveness check: after
            # a PostgreSQL restart each would fail its next request. Connections older than 1 s
            # are replaced when checked out instead (a new loopback connection costs milliseconds).
            *("--db-pool-recycle", "1"),
        ],
        env,
        ready_url=f"{config.webserver_url}/server_info",
        url=config.webserver_url,
    )
    workers = [
        ProcessSpec(
            worker_name(queue),
            [
                *(str(bin_dir / "celery"), "-A", "dagster_celery.app", "worker", "-Q", queue),
                *("-n", f"{queue}-{config.key_prefix.rstrip(':')}@%h"),
                *("--concurrency", str(config.worker_concurrency)),
                *("--prefetch-multiplier", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"),
            ],
            env,
            ready_log=" ready.",
            url=f"queue {queue!r} on {config.broker.split('@')[-1]}",
        )
        for queue in QUEUES
    ]
    return [mlflow, code_server, daemon, webserver, *workers]


def _prepare_instance(config: StackConfig) -> None:
    """Create the instance's tables and the promotion pool's limit before any process starts."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        instance.event_log_storage.set_concurrency_slots(names.PROMOTION_POOL, 1)


def _write_env_file(config: StackConfig) -> Path:
    """stack.env: what another host's worker exports (secrets left out: set them there)."""
    env = config.process_env({})
    keep = {k: v for k, v in sorted(env.items()) if k not in (*_SECRET_VARS, "PATH", "PYTHONPATH")}
    path = config.state_dir / "stack.env"
    path.write_text("".join(f"export {k}={v!r}\n" for k, v in keep.items()), encoding="utf-8")
    return path


def _start_missing(
    specs: list[ProcessSpec], config: StackConfig, started: list[tuple[ProcessSpec, tuple[int, int]]]
) -> None:
    for spec in specs:
        if processes.read_pid(config.pids_dir, spec.name) is not None:
            continue  # already up: `up` twice is harmless
        started.append((spec, processes.start(spec, config.pids_dir, config.logs_dir, REPO_ROOT)))


def up(config: StackConfig) -> list[ProcessState]:
    check_broker(config)
    ensure_databases(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    write_all(config)
    _write_env_file(config)
    _prepare_instance(config)
    started: list[tuple[ProcessSpec, tuple[int, int]]] = []
    specs = process_specs(config)
    # MLflow and the code server first: the daemon and webserver load their code location from
    # the code server, so it answers before they start. Everything started is waited for below.
    first = [s for s in specs if s.name in ("mlflow", CODE_SERVER)]
    try:
        _start_missing(first, config, started)
        for spec, (pid, offset) in started:
            if spec.name == CODE_SERVER:
                processes.wait_ready(spec, pid, offset, config.logs_dir, READY_TIMEOUT_SECONDS)
        _start_missing([s for s in specs if s not in first], config, started)
        for spec, (pid, offset) in started:
            processes.wait_ready(spec, pid, offset, config.logs_dir, READY_TIMEOUT_SECONDS)
    except BaseException:
        for name in reversed([spec.name for spec, _ in started]):
            processes.stop(name, config.pids_dir)
        raise
    return status(config)


def status(config: StackConfig) -> list[ProcessState]:
    return [
        ProcessState(
            spec.name,
            processes.read_pid(config.pids_dir, spec.name),
            spec.url,
            processes.log_path(config.logs_dir, spec.name),
        )
        for spec in process_specs(config)
    ]


def down(config: StackConfig, drop: bool = False) -> list[str]:
    """Stop every process (workers first, MLflow last); `drop` also drops both databases."""
    if not config.state_dir.is_dir():
        raise StackError(f"no stack at {config.state_dir} (set MLOPS_STACK_DIR or --state-dir)")
    stopped = [
        spec.name for spec in reversed(process_specs(config)) if processes.stop(spec.name, config.pids_dir)
    ]
    if drop:
        drop_databases(config)
    return stopped
