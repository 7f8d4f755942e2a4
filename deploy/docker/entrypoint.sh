#!/bin/sh
# The image's entrypoint: `mlops-pipelines ARGS` (serve, demo, rollback, ...), unless the first
# argument names another program of the image. Dagster's Helm chart starts code servers and run
# pods with args ["dagster", "api", ...] and no command, so those must reach their program as is;
# the Celery workers and the MLflow server are started the same way (deploy/k8s/).
set -eu
case "${1:-}" in
  dagster | dagster-daemon | dagster-webserver | celery | mlflow | python | python3 | mlops-healthcheck)
    exec "$@"
    ;;
  *)
    exec mlops-pipelines "$@"
    ;;
esac
