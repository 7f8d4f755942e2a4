"""What a training run hands on: the typed records that travel model -> evaluation -> champion.

`ModelArtifact` pins everything needed to rebuild the model (table version, partitions,
parameters, seed, code), so `reproduce` can retrain it and compare metrics exactly, and the
evaluation and the champion gate read exactly the holdout it was scored on. `RunContext` is
the orchestrator's name for the run that trained it, recorded as MLflow tags; code that runs
without an orchestrator (the benchmarks' plain path) passes None and records no such tags.

Imports nothing heavy: the asset modules import these records when the code location loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingWindow:
    train: tuple[str, ...]
    holdout: tuple[str, ...]
    as_of: str
    # The partitions the challenger is evaluated on when they reach back past the holdout (small
    # partitions: `window.evaluation_size`); empty: the holdout. The served refit learns from
    # train + holdout either way.
    evaluation: tuple[str, ...] = ()

    @property
    def evaluated(self) -> tuple[str, ...]:
        """The partitions the evaluation predicts, oldest first (a suffix of them is the holdout)."""
        return self.evaluation or self.holdout

    @property
    def evaluated_range(self) -> str:
        return f"{self.evaluated[0]}..{self.evaluated[-1]}"

    @property
    def train_range(self) -> str:
        """'first..last' training partition, as the lineage tags spell it."""
        return f"{self.train[0]}..{self.train[-1]}"

    @property
    def holdout_range(self) -> str:
        return f"{self.holdout[0]}..{self.holdout[-1]}"


@dataclass(frozen=True)
class RunContext:
    """The orchestrator run (and asset) that trains a model, for its MLflow lineage tags."""

    run_id: str
    asset_key: str  # "project/model", as the orchestrator's UI spells it


@dataclass(frozen=True)
class ModelArtifact:
    project: str
    version: str  # registry version
    run_id: str
    model_uri: str
    artifact_sha256: str
    features_uri: str
    features_version: int
    window: TrainingWindow
    best_params: dict[str, Any]
    seed: int
    primary_metric: str
    cv_score: float
    data_sha256: str
    n_train_rows: int
    reason: str
    run_url: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    window_choice: dict[str, Any] | None = None  # `window_choice.choice_json` when lengths were tried
