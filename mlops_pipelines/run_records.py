"""The Dagster instance as the record of which runs produced which model versions and how they ended.

`DagsterLedger` is the `VersionLedger` (lib.registry.ledger) that model loading consults: a
version counts as produced by the pipeline only when a materialization in the instance names
it with its MLflow run and artifact sha256. Two steps produce versions:

- `<project>/model` (training): `model_version`, `mlflow_run_id`, `artifact_sha256`;
- `<project>/champion` (the go-live refit): `refit_version` equal to `champion_version`, with
  `champion_run_id` and `champion_artifact_sha256`.

Which instance, decided by the tracking resource's `provenance` setting (the environment picks
it: `production` "required", `local` "when_available"):

- inside a step: the instance the run is recorded in;
- outside Dagster (serving, the CLI): the instance at DAGSTER_HOME, opened per lookup (a load
  happens only when an alias moves); without DAGSTER_HOME "required" refuses every load naming
  the variable, "when_available" checks the sha256 tag only and says so once in the log.

A version registered again by a retried step (training `reuse`, an existing refit) is recorded
by the retry's materialization with the sha256 its tag carries: the retry vouches for it.

`reconcile_project` ends FAILED the MLflow runs that failed or canceled Dagster runs left RUNNING
(`lib.registry.orphans`), from the training step and from `mlops-pipelines reconcile`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import TYPE_CHECKING, Literal

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.lib.registry.ledger import ProducedVersion, VersionLedger
from mlops_pipelines.lib.registry.lookup import ProvenanceUnavailable

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.orphans import ReconciledRun
    from mlops_pipelines.lib.registry.session import TrackingConfig

log = logging.getLogger(__name__)

ProvenancePolicy = Literal["required", "when_available"]
PROVENANCE_POLICIES: tuple[ProvenancePolicy, ...] = ("required", "when_available")
DAGSTER_HOME_VAR = "DAGSTER_HOME"
_PAGE = 200


class DagsterLedger:
    """Version records read from one Dagster instance (`open_instance` yields it per lookup)."""

    def __init__(self, open_instance: Callable[[], AbstractContextManager[dg.DagsterInstance]], where: str):
        self._open = open_instance
        self._where = where
        self._found: dict[tuple[str, str], ProducedVersion] = {}  # a record never changes once written

    def describe(self) -> str:
        return self._where

    def produced(self, project: str, version: str) -> ProducedVersion | None:
        key = (project, str(version))
        if key not in self._found:
            with self._open() as instance:
                record = _model_record(instance, project, key[1]) or _refit_record(instance, project, key[1])
            if record is None:
                return None
            self._found[key] = record
        return self._found[key]


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> Iterator[tuple[str, dict]]:
    """(Dagster run id, metadata values) of every materialization of `key`, newest first."""
    cursor: str | None = None
    while True:
        page = instance.fetch_materializations(key, limit=_PAGE, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is not None:
                yield record.run_id, {k: v.value for k, v in materialization.metadata.items()}
        if not page.has_more:
            return
        cursor = page.cursor


def _model_record(instance: dg.DagsterInstance, project: str, version: str) -> ProducedVersion | None:
    key = dg.AssetKey([project, names.MODEL])
    for run_id, meta in _materializations(instance, key):
        if str(meta.get(names.META_MODEL_VERSION)) == version and meta.get(names.META_ARTIFACT_SHA):
            return ProducedVersion(
                project,
                version,
                run_id,
                _text(meta.get(names.META_MLFLOW_RUN_ID)),
                str(meta[names.META_ARTIFACT_SHA]),
                key.to_user_string(),
            )
    return None


def _refit_record(instance: dg.DagsterInstance, project: str, version: str) -> ProducedVersion | None:
    key = dg.AssetKey([project, names.CHAMPION])
    for run_id, meta in _materializations(instance, key):
        produced = str(meta.get(names.META_REFIT_VERSION)) == version
        if (
            produced
            and str(meta.get(names.META_CHAMPION_VERSION)) == version
            and meta.get(names.META_CHAMPION_SHA)
        ):
            return ProducedVersion(
                project,
                version,
                run_id,
                _text(meta.get(names.META_CHAMPION_RUN_ID)),
                str(meta[names.META_CHAMPION_SHA]),
                key.to_user_string(),
            )
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class _MissingLedger:
    """ "required" without an instance: every lookup is refused, naming what to set."""

    def describe(self) -> str:
        return f"no Dagster instance ({DAGSTER_HOME_VAR} is not set)"

    def produced(self, project: str, version: str) -> ProducedVersion | None:
        raise ProvenanceUnavailable(
            f"{project} version {version}: provenance is required (tracking resource provenance="
            f"'required') but {DAGSTER_HOME_VAR} is not set, so no Dagster instance records which run "
            f"produced it: set {DAGSTER_HOME_VAR} to the pipeline's instance"
        )


@cache
def _warn_unchecked() -> None:
    log.warning(
        "model provenance: %s is not set, so loaded versions are checked against their sha256 tag "
        "only, not against the Dagster runs that produced them (provenance='when_available')",
        DAGSTER_HOME_VAR,
    )


def _home_instance() -> AbstractContextManager[dg.DagsterInstance]:
    try:
        return dg.DagsterInstance.get()
    except Exception as err:  # Dagster raises several types for an unusable home; all mean the same here
        raise ProvenanceUnavailable(
            f"the Dagster instance at {DAGSTER_HOME_VAR}={os.environ.get(DAGSTER_HOME_VAR)!r} cannot "
            f"be opened to check model provenance: {type(err).__name__}: {err}"
        ) from err


def pipeline_ledger(policy: str, instance: dg.DagsterInstance | None) -> VersionLedger | None:
    """The ledger a TrackingConfig carries under `policy` (see the module docstring)."""
    if policy not in PROVENANCE_POLICIES:
        raise ValueError(f"MlflowTracking.provenance={policy!r}: use one of {PROVENANCE_POLICIES}")
    if instance is not None:
        return DagsterLedger(lambda: nullcontext(instance), "the run's Dagster instance")
    home = os.environ.get(DAGSTER_HOME_VAR)
    if home:
        return DagsterLedger(_home_instance, f"the Dagster instance at {DAGSTER_HOME_VAR}={home}")
    if policy == "required":
        return _MissingLedger()
    _warn_unchecked()
    return None


def dagster_status(instance: dg.DagsterInstance) -> Callable[[str], str | None]:
    """run id -> its status name in `instance`, None for a run it does not know."""

    def status(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        return None if run is None else run.status.value

    return status


def reconcile_project(
    instance: dg.DagsterInstance, cfg: TrackingConfig, project: str
) -> tuple[ReconciledRun, ...]:
    """End FAILED `project`'s MLflow runs left RUNNING by failed or canceled runs of `instance`.

    Cost: one search of the project's RUNNING MLflow runs plus one run lookup per such run.
    """
    from mlops_pipelines.lib.registry.orphans import reconcile_orphan_runs

    return reconcile_orphan_runs(cfg, project, dagster_status(instance))
