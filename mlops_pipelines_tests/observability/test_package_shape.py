"""Only the Dagster source of the exporter loads dagster: the collector, the metric families and
the registry source stay usable (and testable) without it."""

from __future__ import annotations

import subprocess
import sys

DAGSTER_FREE = (
    "mlops_pipelines.observability.collector",
    "mlops_pipelines.observability.families",
    "mlops_pipelines.observability.registry_source",
    "mlops_pipelines.observability.server",
    "mlops_pipelines.observability.state",
)


def loads_dagster(modules: tuple[str, ...]) -> bool:
    """Whether importing `modules` in a fresh interpreter loads dagster."""
    code = f"import sys\nfor m in {list(modules)!r}: __import__(m)\nprint('dagster' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip() == "True"


def test_the_exporter_loads_dagster_only_for_the_instance() -> None:
    assert not loads_dagster(DAGSTER_FREE)


def test_the_check_sees_dagster_loaded_by_the_instance_reader() -> None:
    assert loads_dagster(("mlops_pipelines.observability.dagster_source",))
