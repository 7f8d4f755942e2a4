"""The pipeline's state as Prometheus metrics: what the exporter reads (the Dagster instance,
the MLflow registry) and how it is shown. Only `dagster_source` imports dagster."""
