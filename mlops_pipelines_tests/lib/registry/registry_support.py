"""Registering a fitted regressor on a real MLflow store, the way the training step does."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlops_pipelines.lib.registry.aliases import register_challenger
from mlops_pipelines.lib.registry.lookup import ModelVersionRef
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.tracking import LoggedModel, TrackingConfig, log_training_run

PROVENANCE = Provenance(None, None, None, "3.11.7", {})


def register_regressor(
    cfg: TrackingConfig,
    project: str,
    pipeline: Any,
    example: pd.DataFrame,
    params: dict[str, Any] | None = None,
) -> tuple[LoggedModel, ModelVersionRef]:
    """Log `pipeline` as a finished training run of `project` and register it as the challenger."""
    logged = log_training_run(
        cfg,
        project,
        pipeline=pipeline,
        params=params or {},
        metrics={"score": 0.5},
        cv_results=[],
        figures={},
        input_example=example,
        task_is_classification=False,
        tags={},
        extra_json={},
        provenance=PROVENANCE,
    )
    return logged, register_challenger(cfg, project, logged, {})
