"""Real bike_sharing features, a fresh MLflow store, a report dir, and one trained champion."""

from mlops_pipelines_tests.lib.model_support import bike_spec, bike_tables, reports, tracking
from mlops_pipelines_tests.lib.scoring.champion_support import served

__all__ = ["bike_spec", "bike_tables", "reports", "served", "tracking"]
