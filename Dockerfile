# One image for every process of a deployment (README "Deploy to Kubernetes"): the Dagster code
# location (`dagster code-server start` / `dagster api grpc -m mlops_pipelines.definitions`), the
# run pods, the Celery workers (`celery -A dagster_celery.app worker -Q train`), the MLflow
# tracking server (`mlflow server --app-name basic-auth`) and serving (`serve --project P`).
#
#   podman build -t mlops-pipelines:0.1.0 .        (or docker build)
#   podman run --rm -p 8080:8080 mlops-pipelines:0.1.0 serve --project bike_sharing --host 0.0.0.0
#
# Checked offline by mlops_pipelines_tests/deploy/test_dockerfile.py (hadolint and the rules below).
ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: a virtualenv with exactly the lock's versions of the package's dependencies ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
# The same uv as ./dev setup.
RUN python -m pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
# The lock and the dependency list before the source: editing code reuses the dependency layer.
COPY pyproject.toml requirements.lock ./
# Runtime dependencies only (the lock also pins the dev tools), each at the lock's exact version;
# then every installed distribution must be a line of the lock, or the build fails naming it.
RUN uv venv /opt/venv --python python3.11 \
    && uv pip install --python /opt/venv/bin/python -r pyproject.toml --constraint requirements.lock \
    && uv pip freeze --python /opt/venv/bin/python > /tmp/installed.txt \
    && grep -E '^[a-z0-9]' requirements.lock > /tmp/pinned.txt \
    && if grep -vixFf /tmp/pinned.txt /tmp/installed.txt; then \
         echo "installed above but not pinned in requirements.lock" >&2; exit 1; \
       fi
COPY README.md setup.cfg ./
COPY mlops_pipelines ./mlops_pipelines
RUN uv pip install --python /opt/venv/bin/python --no-deps . \
    && /opt/venv/bin/mlops-pipelines --help > /dev/null

# ---- final: the interpreter, the virtualenv and two small scripts; no compiler, no pip cache ----
FROM ${PYTHON_IMAGE}
ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    MLOPS_HOME=/var/lib/mlops
RUN groupadd --system --gid 10001 mlops \
    && useradd --no-log-init --uid 10001 --gid mlops --home-dir /var/lib/mlops --shell /usr/sbin/nologin mlops \
    && mkdir -p /var/lib/mlops /opt/dagster/dagster_home \
    && chown -R mlops:mlops /var/lib/mlops /opt/dagster
COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0555 deploy/docker/entrypoint.sh /usr/local/bin/mlops-entrypoint
COPY --chmod=0555 deploy/docker/healthcheck.py /usr/local/bin/mlops-healthcheck
WORKDIR /var/lib/mlops
# Numeric, so Kubernetes can enforce runAsNonRoot without resolving a name.
USER 10001:10001
# 8080: serving (`serve --port`); 4000: the code server; 5000: the MLflow tracking server.
EXPOSE 8080 4000 5000
# Serving's /healthz by default; MLOPS_HEALTHCHECK=grpc:4000 for a code server, none for a worker.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["mlops-healthcheck"]
# `mlops-pipelines ARGS`, or the named program for ["dagster", ...], ["celery", ...], ["mlflow", ...].
ENTRYPOINT ["mlops-entrypoint"]
CMD ["--help"]
