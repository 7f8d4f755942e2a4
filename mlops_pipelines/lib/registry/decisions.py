"""Helpers behind registry writes: decision records, and the alias lock (locks.py) re-exported.

A promotion decision is stored twice: in full as a JSON artifact of the version's training
run (no size limit, kept with the run), and as a model-version tag so the registry UI and API
show it without a download. Tags are capped at `TAG_VALUE_LIMIT` characters: MLflow accepts
longer model-version tags, but registered-model tags on SQL stores stop at 5000 and older
servers apply 5000 to both, so a larger decision is tagged as a summary pointing at the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING

from mlops_pipelines.lib.registry.locks import (
    LOCK_TIMEOUT_SECONDS,
    AliasLockTimeoutError,
    LockDatabaseError,
    alias_lock,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_pipelines.lib.registry.lookup import ModelVersionRef

__all__ = [
    "LOCK_TIMEOUT_SECONDS",
    "TAG_VALUE_LIMIT",
    "AliasLockTimeoutError",
    "LockDatabaseError",
    "alias_lock",
    "attach_decision",
]

log = logging.getLogger(__name__)

TAG_VALUE_LIMIT = 5000
_SUMMARY_FIELD_CHARS = 200


def _summary(decision_json: str, document: object, artifact: str | None) -> str:
    """A tag-sized stand-in for a decision too long to tag: its scalars plus a pointer."""
    summary: dict[str, object] = {
        "truncated": True,
        "artifact": artifact,
        "sha256": hashlib.sha256(decision_json.encode()).hexdigest(),
        "chars": len(decision_json),
    }
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, str | int | float | bool) or value is None:
                short = value[:_SUMMARY_FIELD_CHARS] if isinstance(value, str) else value
                trial = {**summary, str(key)[:_SUMMARY_FIELD_CHARS]: short}
                if len(json.dumps(trial)) <= TAG_VALUE_LIMIT:
                    summary = trial
    return json.dumps(summary)


def attach_decision(
    client: MlflowClient,
    ref: ModelVersionRef,
    kind: str,
    decision_json: str,
    stamp: str,
    artifact: str | None = None,
) -> str | None:
    """Tag `ref` with decision `kind` (and store it on its run unless `artifact` is given).

    Returns the artifact URI (runs:/<run>/decisions/...) or None for a version without a run.
    """
    try:
        document = json.loads(decision_json)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{ref.name} version {ref.version}: {kind} decision is not valid JSON: {err}"
        ) from err
    if artifact is None and ref.run_id:
        compact = stamp.replace(":", "").replace("-", "").replace("+0000", "Z")
        artifact_file = f"decisions/{kind}-v{ref.version}-{compact}.json"
        client.log_text(ref.run_id, decision_json, artifact_file)
        artifact = f"runs:/{ref.run_id}/{artifact_file}"
    if len(decision_json) <= TAG_VALUE_LIMIT:
        value = decision_json
    else:
        if artifact is None:
            log.warning("%s v%s: %s decision truncated with no run to hold it", ref.name, ref.version, kind)
        value = _summary(decision_json, document, artifact)
    client.set_model_version_tag(ref.name, ref.version, f"{kind}_decision", value)
    if artifact is not None:
        client.set_model_version_tag(ref.name, ref.version, f"{kind}_decision_artifact", artifact)
    return artifact
