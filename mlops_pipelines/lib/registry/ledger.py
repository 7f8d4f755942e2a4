"""Which run produced a model version: the check that a sha256 tag alone cannot give.

The `artifact_sha256` tag lives in the registry beside the version, so anyone who can register
a version can also write a matching tag for bytes of their own. The record that a version was
produced by the pipeline lives elsewhere: the orchestrator's run history, where the step that
trained (or refit) it recorded the Dagster run id, the MLflow run id, the version and the
artifact's sha256. A `VersionLedger` answers from that history; this package never imports
Dagster, so the ledger is handed in (`TrackingConfig.ledger`, set by the environment).

`model_loading.check_produced` refuses a version the ledger has no record of, or whose MLflow run
or sha256 differ from the record; the loader then compares the downloaded bytes with the RECORDED
sha256, not with the tag. The errors (`ProvenanceError`, `ProvenanceUnavailable`) are in `lookup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProducedVersion:
    """What the producing step recorded about one model version."""

    project: str
    version: str
    dagster_run_id: str
    mlflow_run_id: str | None
    artifact_sha256: str
    recorded_by: str  # the asset whose materialization holds the record (for messages)


class VersionLedger(Protocol):
    def produced(self, project: str, version: str) -> ProducedVersion | None:
        """The record of the run that produced `version`, or None when no run recorded it.

        Raises lookup.ProvenanceUnavailable when the run history cannot be read at all.
        """

    def describe(self) -> str:
        """Where the records are read (named in refusals)."""
