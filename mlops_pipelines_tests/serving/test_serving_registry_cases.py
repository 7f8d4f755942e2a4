"""Registry cases the serving path depends on: where a project's experiment may keep its models."""

from __future__ import annotations

import pytest
from serving_support import Registry, tracking_config

from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import (
    ForeignArtifactLocationError,
    ensure_experiment,
    experiment_name,
)


@pytest.mark.parametrize(
    ("project", "location"),
    [("case39_file", "file:///etc"), ("case39_metadata", "http://169.254.169.254/latest")],
)
def test_case_39_an_experiment_with_a_foreign_artifact_location_is_refused(
    registry: Registry, project: str, location: str
) -> None:
    cfg = tracking_config(registry.settings)
    with open_client(cfg) as client:
        client.create_experiment(experiment_name(cfg, project), artifact_location=location)
    with pytest.raises(ForeignArtifactLocationError, match=f"keeps its artifacts at '{location}'"):
        ensure_experiment(cfg, project)


def test_an_experiment_under_the_artifact_root_is_used(registry: Registry) -> None:
    """Failure twin: the project's own location, written as a path or as a file:// URI."""
    cfg = tracking_config(registry.settings)
    with open_client(cfg) as client:
        own = client.create_experiment(
            experiment_name(cfg, "case39_own"), artifact_location=f"file://{cfg.artifact_root}/case39_own/"
        )
    assert ensure_experiment(cfg, "case39_own") == own
    assert ensure_experiment(cfg, "case39_fresh")  # created where it belongs
