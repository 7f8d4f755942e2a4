"""The serving champion as the lineage hands it on: which version serves, and what it learned from.

The `champion` asset produces one `ChampionRef` after every gate decision (promoted, kept) and
every rollback. Scoring, drift and performance take it as an input, so their materializations
name the champion they used and monitoring never looks the champion up in the registry itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChampionSource = Literal["promotion", "kept", "rollback", "none"]


@dataclass(frozen=True)
class ChampionRef:
    project: str
    version: str | None  # None: no champion yet
    run_id: str | None = None
    features_version: int | None = None  # the features table version it was trained on
    train_range: tuple[str, str] | None = None  # first and last training partition
    as_of: str | None = None  # newest partition its training data could use
    metric: str | None = None  # the primary metric of its evaluation
    evaluated_score: float | None = None  # its own evaluated level of that metric
    evaluated_rows: int | None = None  # how many out-of-sample rows that level was measured on
    evaluated_noise: float | None = None  # bootstrap standard error of that level (metric units)
    # The label-free performance estimator (CBPE / DLE) fitted on its out-of-sample evaluation
    # predictions, stored as an artifact beside the version and pinned by its sha256.
    estimator_uri: str | None = None
    estimator_sha256: str | None = None
    source: ChampionSource = "none"
    decided_at: str | None = None  # ISO time of the decision or rollback that named it
    artifact_sha256: str | None = None  # the version's artifact sha256 (its tag when named)

    @classmethod
    def absent(cls, project: str) -> ChampionRef:
        return cls(project=project, version=None)

    @property
    def exists(self) -> bool:
        return self.version is not None

    @property
    def label(self) -> str:
        """How metadata and logs name it: 'v3', or 'none'."""
        return f"v{self.version}" if self.version is not None else "none"
