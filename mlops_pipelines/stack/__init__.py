"""The deployed stack on one machine, every part a real server: `mlops-pipelines stack up|status|down`.

PostgreSQL holds the Dagster instance (runs, event log, schedules) and the MLflow tracking store;
Redis (or RabbitMQ) carries Celery tasks. Those are expected to run already; the stack checks
each and names the setting to fix when one is unreachable. It starts the rest itself, as
separate processes with pid files and logs under one state directory: the MLflow tracking
server (basic auth, proxied artifacts), dagster-daemon, dagster-webserver and Celery workers
(a default queue and a `train` queue).

- `config.py`: every setting, read when `stack_config` is called, and the environment every process gets;
- `files.py`: dagster.yaml, workspace.yaml, the Celery worker config and MLflow's auth config;
- `services.py`: reaching PostgreSQL and the broker, creating the databases;
- `processes.py`: starting, checking and stopping one supervised process;
- `commands.py`: up, status and down.
"""
