"""The audit trail: every alias move (and every approval verdict), append-only, in MLflow itself.

Where: one MLflow experiment per project, `<prefix>/<project>/audit`, on the same tracking
backend as the project's runs, so the embedded SQLite store and a deployed tracking server
(PostgreSQL behind it, with its auth) both hold it with no extra store to run or back up. One
entry is one MLflow run whose *parameters* carry the entry. Why parameters: MLflow refuses to
change a logged parameter ("Changing param values is not allowed"), in every store, so an entry
cannot be rewritten through the API; tags (the registered model's or a run's) can be, and a
file under MLOPS_HOME is neither shared across hosts nor covered by the server's auth.

The write rule (pending -> done): an entry is opened as a RUNNING run whose parameters already
name the planned moves, the aliases move, and only then is the run ended FINISHED. A move that
raises ends it FAILED. Only FINISHED entries count as moves that happened; a process killed in
between leaves it RUNNING (pending), and the next writer under the project's alias lock settles
it by comparing its planned moves with the aliases it finds: all in place -> FINISHED (tagged
`mlops.audit.settled`), else FAILED. Entries are written by the registry operations themselves,
inside the alias lock where the operation takes one (promote, rollback, retire, approval); the
challenger alias set at registration has no lock (one writer per training run) and is logged
the same way.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from mlops_pipelines.lib.registry.session import TrackingConfig

log = logging.getLogger(__name__)

AUDIT_TAG = names.AUDIT_TAG
SETTLED_TAG = names.AUDIT_SETTLED_TAG
DONE, FAILED, PENDING = "done", "failed", "pending"
_STATUS = {"FINISHED": DONE, "FAILED": FAILED, "KILLED": FAILED, "RUNNING": PENDING, "SCHEDULED": PENDING}
# A pending entry younger than this may belong to a writer on another host still moving aliases.
SETTLE_AFTER_SECONDS = 300.0
_TEXT_LIMIT = 2000  # MLflow caps a parameter at 6000 characters; reasons are cut well below


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: str | None  # None: the alias was not set
    to_version: str | None  # None: the alias is removed


@dataclass(frozen=True)
class AuditEntry:
    """One registry action: who did it, which aliases moved from and to which version, why, when."""

    project: str
    action: str  # register, challenger, promote, rollback, retire, approval-requested, approve, ...
    moves: tuple[AliasMove, ...]
    actor: str  # "dagster run <id>" or "user <name>" (who asked for it, where known)
    decision_id: str | None  # the decision behind it (see `decision_id`)
    reason: str
    at: str  # UTC ISO 8601 with milliseconds, taken just before the aliases move
    versions: tuple[str, ...] = ()  # versions acted on besides the moves (retired, approved, ...)
    status: str = DONE
    entry_id: str = field(default="", compare=False)  # the MLflow run holding it

    def move_of(self, alias: str) -> AliasMove | None:
        return next((m for m in self.moves if m.alias == alias), None)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_actor() -> str:
    """The OS user of this process: a command run by hand."""
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "user unknown"


def dagster_actor(run_id: str, requested_by: str | None = None) -> str:
    return f"dagster run {run_id}" + (f" (requested by {requested_by})" if requested_by else "")


def decision_id(decision_json: str) -> str:
    """A decision record's id: the sha256 of its JSON (the record is tagged on its versions)."""
    return "sha256:" + hashlib.sha256(decision_json.encode()).hexdigest()[:16]


def decision_reason(decision_json: str) -> str:
    """`verdict: first reason` of a gate decision record, for the log line a person reads."""
    try:
        document = json.loads(decision_json)
    except json.JSONDecodeError:
        return "decision record"
    if not isinstance(document, dict):
        return "decision record"
    reasons = document.get("reasons") or []
    first = f": {reasons[0]}" if reasons else ""
    return f"{document.get('verdict', 'decision')}{first}"


def audit_experiment_name(cfg: TrackingConfig, project: str) -> str:
    from mlops_pipelines.lib.registry.tracking import experiment_name

    return f"{experiment_name(cfg, project)}/audit"


def _experiment_id(client: MlflowClient, cfg: TrackingConfig, project: str, create: bool) -> str | None:
    from mlflow.exceptions import MlflowException

    name = audit_experiment_name(cfg, project)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    if not create:
        return None
    # An explicit location: the SQL store's default would be ./mlruns under the current directory.
    location = f"{cfg.artifact_root.rstrip('/')}/{project}/audit"
    try:
        return str(client.create_experiment(name, artifact_location=location, tags={AUDIT_TAG: project}))
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _params(entry: AuditEntry) -> dict[str, str]:
    moves = [{"alias": m.alias, "from": m.from_version, "to": m.to_version} for m in entry.moves]
    return {
        "project": entry.project,
        "action": entry.action,
        "actor": entry.actor[:_TEXT_LIMIT],
        "decision_id": entry.decision_id or "",
        "reason": entry.reason[:_TEXT_LIMIT] or "-",
        "at": entry.at,
        "moves": json.dumps(moves),
        "versions": json.dumps(list(entry.versions)),
    }


def _entry_of(run: Run) -> AuditEntry:
    params = run.data.params
    moves = tuple(AliasMove(m["alias"], m["from"], m["to"]) for m in json.loads(params.get("moves", "[]")))
    return AuditEntry(
        project=params.get("project", ""),
        action=params.get("action", ""),
        moves=moves,
        actor=params.get("actor", ""),
        decision_id=params.get("decision_id") or None,
        reason=params.get("reason", ""),
        at=params.get("at", ""),
        versions=tuple(json.loads(params.get("versions", "[]"))),
        status=_STATUS.get(run.info.status, PENDING),
        entry_id=run.info.run_id,
    )


def _search(client: MlflowClient, experiment_id: str, filter_string: str = "") -> list[Run]:
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def settle_pending(client: MlflowClient, cfg: TrackingConfig, project: str, aliases: dict[str, str]) -> int:
    """End the pending entries a killed writer left (call under the alias lock); returns how many."""
    experiment = _experiment_id(client, cfg, project, create=False)
    if experiment is None:
        return 0
    cutoff_ms = (time.time() - SETTLE_AFTER_SECONDS) * 1000
    settled = 0
    for run in _search(client, experiment, "attributes.status = 'RUNNING'"):
        if run.info.start_time > cutoff_ms:
            continue
        entry = _entry_of(run)
        in_place = all(aliases.get(m.alias) == m.to_version for m in entry.moves)
        client.set_tag(
            run.info.run_id, SETTLED_TAG, "moves found in place" if in_place else "moves not in place"
        )
        client.set_terminated(run.info.run_id, "FINISHED" if in_place else "FAILED")
        log.warning("%s: pending audit entry %s settled as %s", project, run.info.run_id, in_place)
        settled += 1
    return settled


@contextmanager
def recorded(client: MlflowClient, cfg: TrackingConfig, entry: AuditEntry) -> Iterator[AuditEntry]:
    """Open `entry` as pending, run the block (the alias moves), then mark it done (or failed).

    An entry that cannot be opened stops the block before any alias moves: no unlogged moves.
    """
    experiment = _experiment_id(client, cfg, entry.project, create=True)
    assert experiment is not None
    tags = {AUDIT_TAG: entry.project}
    run = client.create_run(experiment, tags=tags, run_name=f"{entry.action} {entry.at}")
    run_id = run.info.run_id
    from mlflow.entities import Param

    try:
        client.log_batch(run_id, params=[Param(k, v) for k, v in _params(entry).items()])
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    try:
        yield entry
    except BaseException as err:
        try:
            client.set_terminated(run_id, "FAILED")
        except Exception as mark_err:  # noqa: BLE001 (the move's own error matters more; the entry stays pending)
            err.add_note(f"{entry.project}: audit entry {run_id} could not be marked failed: {mark_err}")
        raise
    client.set_terminated(run_id, "FINISHED")


def read_entries(cfg: TrackingConfig, project: str, *, include_failed: bool = False) -> list[AuditEntry]:
    """The project's audit entries, oldest first (done and pending; failed ones on request)."""
    from mlops_pipelines.lib.registry.session import open_client

    with open_client(cfg) as client:
        experiment = _experiment_id(client, cfg, project, create=False)
        if experiment is None:
            return []
        entries = [_entry_of(run) for run in _search(client, experiment)]
    return [e for e in entries if include_failed or e.status != FAILED]
