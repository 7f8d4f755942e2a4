"""One environment (local | production) picks every resource and the executor, in this one place.

`environment_for()` reads MLOPS_ENV when it is called, never at import. The Dagster code location
takes its resources and executor from it; the entry points outside Dagster (the CLI's reproduce,
serve and rollback, `reproduce.py`, serving) take their TrackingConfig, promotion lock path and
lake root from the SAME resources through the methods below, so a rollback takes the lock the
promotion step takes and serving reads the registry the steps write.

`local` needs no server: empty fields resolve under MLOPS_HOME when used. `production` reads
every location and secret through `dg.EnvVar`, resolved when used: by Dagster when a step
starts, by `Environment.resolved` when code outside Dagster asks. A variable that is missing
(or empty: an empty MLOPS_TRACKING_URI would silently mean the embedded SQLite store) is an
EnvironmentConfigError naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines.resources.alerts import FileAlertSink, WebhookAlertSink
from mlops_pipelines.resources.data import DataSource
from mlops_pipelines.resources.io import HandleIOManager
from mlops_pipelines.resources.lakehouse import Lakehouse, LocalLakehouse, ObjectStoreLakehouse
from mlops_pipelines.resources.reports import ReportStore
from mlops_pipelines.resources.tracking import LocalMlflowTracking, MlflowTracking, ServerMlflowTracking
from mlops_pipelines.settings import (
    ENVIRONMENT_VAR,
    LOCK_URL_ENV,
    EnvironmentConfigError,
    EnvironmentName,
    Settings,
    environment_name,
    load_settings,
)

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig

TRACKING = "tracking"
LAKEHOUSE = "lakehouse"
# Production options, read when `environment_for` is called (the stack sets them for every process).
EXECUTOR_VAR = "MLOPS_EXECUTOR"  # in_process (default) | celery | dask
DASK_SCHEDULER_VAR = "MLOPS_DASK_SCHEDULER"  # tcp://host:8786 of a running Dask scheduler
CELERY_BROKER_VAR = "MLOPS_CELERY_BROKER"
CELERY_BACKEND_VAR = "MLOPS_CELERY_BACKEND"
# Several stacks may share one Redis: each prefixes its queues, so no worker takes another's steps.
CELERY_PREFIX_VAR = "MLOPS_CELERY_KEY_PREFIX"
ALERTS_FILE_VAR = "MLOPS_ALERTS_FILE"  # set: alerts go to this JSON-lines file instead of the webhook
LAKE_ROOT_VAR = "MLOPS_LAKE_ROOT"  # s3://... is the object store; any other value a path every host shares
TRACKING_USERNAME_VAR = "MLFLOW_TRACKING_USERNAME"
TRACKING_PASSWORD_VAR = "MLFLOW_TRACKING_PASSWORD"


@dataclass(frozen=True)
class Environment:
    """What one environment runs with. `resources` is the dict Dagster gets, as declared
    (EnvVar fields unresolved); the methods resolve a resource the way a step would."""

    name: EnvironmentName
    resources: Mapping[str, Any]
    executor: dg.ExecutorDefinition

    def resolved(self, key: str) -> Any:
        """Resource `key` with every EnvVar field read from the environment now."""
        if key not in self.resources:
            raise KeyError(
                f"environment {self.name!r} has no resource {key!r} (it has {sorted(self.resources)})"
            )
        resource = self.resources[key]
        variables = [
            value.env_var_name
            for field in type(resource).model_fields
            if isinstance(value := getattr(resource, field), dg.EnvVar)
        ]
        missing = [name for name in variables if not os.environ.get(name)]
        if missing:
            raise EnvironmentConfigError(
                f"{ENVIRONMENT_VAR}={self.name}: the {key!r} resource reads "
                f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not set (or empty)"
            )
        return resource.process_config_and_initialize() if variables else resource

    def tracking(self) -> MlflowTracking:
        tracking: MlflowTracking = self.resolved(TRACKING)
        return tracking

    def lakehouse(self) -> Lakehouse:
        lakehouse: Lakehouse = self.resolved(LAKEHOUSE)
        return lakehouse

    def tracking_config(self) -> TrackingConfig:
        """The MLflow configuration every step of this environment uses."""
        return self.tracking().config()

    def lock_path(self, project: str) -> Path:
        """The file lock the promotion step holds while it moves `project`'s aliases."""
        return self.tracking().lock_path(project)

    def settings(self) -> Settings:
        """Settings for code outside Dagster (serving): tracking and lake values from the resources."""
        config = self.tracking_config()
        base = load_settings({**os.environ, ENVIRONMENT_VAR: self.name})
        return replace(
            base,
            tracking_uri=config.tracking_uri,
            registry_uri=config.resolved_registry_uri,
            artifact_root=config.artifact_root,
            lake_root=self.lakehouse().resolved_root(),
            tracking=config,
        )


def _local() -> dict[str, Any]:
    return {
        "io_manager": HandleIOManager(),
        "data_source": DataSource(),
        "reports": ReportStore(),
        LAKEHOUSE: LocalLakehouse(),
        TRACKING: LocalMlflowTracking(),
        "alerts": FileAlertSink(),
    }


def _production() -> dict[str, Any]:
    return {
        "io_manager": HandleIOManager(base_dir=dg.EnvVar("MLOPS_HANDLES_DIR")),
        "data_source": DataSource(data_dir=dg.EnvVar("MLOPS_DATA_DIR")),
        "reports": ReportStore(root=dg.EnvVar("MLOPS_REPORTS_ROOT")),
        LAKEHOUSE: _production_lake(),
        TRACKING: ServerMlflowTracking(
            tracking_uri=dg.EnvVar("MLOPS_TRACKING_URI"),
            artifact_root=dg.EnvVar("MLOPS_ARTIFACT_ROOT"),
            locks_dir=dg.EnvVar("MLOPS_LOCKS_DIR"),
            username=dg.EnvVar(TRACKING_USERNAME_VAR),
            password=dg.EnvVar(TRACKING_PASSWORD_VAR),
            # Production spans hosts, where the file lock alone serialises nothing: alias moves
            # must also take the PostgreSQL advisory lock, so an unset URL fails naming it.
            lock_url=dg.EnvVar(LOCK_URL_ENV),
            provenance="required",  # no model loads unless a recorded run of the instance produced it
        ),
        "alerts": (
            FileAlertSink(path=dg.EnvVar(ALERTS_FILE_VAR))
            if os.environ.get(ALERTS_FILE_VAR)
            else WebhookAlertSink(url=dg.EnvVar("MLOPS_ALERT_WEBHOOK_URL"))
        ),
    }


def lakehouse_at(root: str) -> Lakehouse:
    """The lakehouse a production process whose MLOPS_LAKE_ROOT is `root` uses, its credentials
    read from this process's environment now: a client of a stack (`stack demo`) reads the
    tables the stack's runs write."""
    if not root.startswith("s3://"):
        return LocalLakehouse(root=root)
    lake = ObjectStoreLakehouse(
        root=root,
        access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
        secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        region=dg.EnvVar("AWS_REGION"),
    )
    resolved: Lakehouse = lake.process_config_and_initialize()
    return resolved


def _production_lake() -> Lakehouse:
    if os.environ.get(LAKE_ROOT_VAR, "").startswith("s3://"):
        return ObjectStoreLakehouse(
            root=dg.EnvVar(LAKE_ROOT_VAR),
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
            region=dg.EnvVar("AWS_REGION"),
        )
    # A path every worker host mounts (NFS, a shared disk); empty or unset is named when a step starts.
    return LocalLakehouse(root=dg.EnvVar(LAKE_ROOT_VAR))


def _dask_executor() -> dg.ExecutorDefinition:
    """Each step a task on the Dask cluster whose scheduler MLOPS_DASK_SCHEDULER names (read by
    Dagster when a run starts, so an unset one is named then). Dask has no queues: every worker
    takes every step, training included; route big steps with Celery's `train` queue instead."""
    from dagster_dask import dask_executor

    return dask_executor.configured(
        {"cluster": {"existing": {"address": {"env": DASK_SCHEDULER_VAR}}}}, name="dask"
    )


def _production_executor() -> dg.ExecutorDefinition:
    """In-process unless MLOPS_EXECUTOR=celery: then each step is a Celery task, routed by its
    `dagster-celery/queue` op tag (training and evaluation to `train`). Broker and backend are read
    by Dagster when a run starts, so a missing one is named at the run's first step.
    MLOPS_EXECUTOR=dask runs the steps on a Dask cluster instead (`_dask_executor`)."""
    chosen = os.environ.get(EXECUTOR_VAR) or "in_process"
    if chosen == "in_process":
        return dg.in_process_executor
    if chosen == "dask":
        return _dask_executor()
    if chosen != "celery":
        raise EnvironmentConfigError(
            f"unknown executor {chosen!r}: set {EXECUTOR_VAR} to 'in_process', 'celery' or 'dask'"
        )
    from dagster_celery import celery_executor

    transport = {"global_keyprefix": os.environ.get(CELERY_PREFIX_VAR) or "mlops:"}
    return celery_executor.configured(
        {
            "broker": {"env": CELERY_BROKER_VAR},
            "backend": {"env": CELERY_BACKEND_VAR},
            "config_source": {
                # dagster-celery's own defaults, plus the prefix; every worker gets the same.
                "broker_transport_options": {
                    "max_retries": 3,
                    "interval_start": 0,
                    "interval_step": 0.2,
                    "interval_max": 0.5,
                    **transport,
                },
                "result_backend_transport_options": transport,
            },
        },
        name="celery",
    )


# Local runs every step of a run in one process: each step would otherwise pay seconds of
# imports again (STACK-NOTES). Production does too, unless the stack configured Celery; it
# applies to runs launched as reconstructable jobs (daemon, webserver), never execute_in_process.
_BUILDERS = {"local": _local, "production": _production}
_EXECUTORS: dict[EnvironmentName, Callable[[], dg.ExecutorDefinition]] = {
    "local": lambda: dg.in_process_executor,
    "production": _production_executor,
}


def environment_for(name: str | None = None) -> Environment:
    """The environment `name`, else MLOPS_ENV (default 'local'); an unknown name is an
    EnvironmentConfigError (a ValueError) naming MLOPS_ENV and the allowed values."""
    chosen = environment_name(name)
    return Environment(chosen, MappingProxyType(_BUILDERS[chosen]()), _EXECUTORS[chosen]())
