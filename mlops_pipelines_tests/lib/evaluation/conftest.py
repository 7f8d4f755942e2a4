"""The model-stage fixtures (real bike_sharing features, a fresh MLflow store, a report dir)."""

from mlops_pipelines_tests.lib.model_support import bike_spec, bike_tables, reports, tracking

__all__ = ["bike_spec", "bike_tables", "reports", "tracking"]
