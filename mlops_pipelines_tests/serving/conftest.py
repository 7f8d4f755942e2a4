"""A session-wide MLflow registry holding real bike_sharing models, shared by the serving tests.

Versions: `plain` and `other` are HistGradientBoosting pipelines fitted on different rows (so
their predictions differ); `sabotaged` wraps `plain` and fails or sleeps on demand. Each test
sets the aliases it needs and uses its own home (lake, deployment decisions).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_support import (
    Registry,
    SabotagedModel,
    adult_frame,
    bike_frame,
    fit_pipeline,
    isolated,
    register,
    set_alias,
)

from mlops_pipelines.settings import Settings, load_settings
from mlops_pipelines.spec import ProjectSpec


def _empty_store(template_dir: Path, target: Path) -> None:
    """Copy a freshly migrated, empty MLflow SQLite store into place.

    Creating MLflow's tables runs dozens of migrations (seconds to tens of seconds on a busy
    machine); the empty result is the same every time, so it is built once per test session.
    """
    from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

    template = template_dir / "mlflow.db"
    if not template.is_file():
        scratch = template.with_suffix(".building")
        uri = f"sqlite:///{scratch}"
        with open_client(TrackingConfig(uri, uri, str(template.parent / "artifacts"))) as client:
            client.search_experiments()
        scratch.replace(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory,
    shared_data_dir: Path,
    specs: dict[str, ProjectSpec],
) -> Registry:
    spec = specs["bike_sharing"]
    home = tmp_path_factory.mktemp("registry")
    settings = load_settings({"MLOPS_HOME": str(home)})
    _empty_store(tmp_path_factory.mktemp("mlflow-template"), home / "mlflow" / "mlflow.db")
    frame = bike_frame(shared_data_dir, spec)
    plain = fit_pipeline(spec, frame.iloc[:400], {"model__max_iter": 30})
    other = fit_pipeline(spec, frame.iloc[400:1200], {"model__max_iter": 60, "model__learning_rate": 0.2})
    example = frame.iloc[:20]
    versions = {
        "plain": register(settings, spec, plain, example),
        "other": register(settings, spec, other, example),
        "sabotaged": register(settings, spec, SabotagedModel(plain), example),
    }
    models = {versions["plain"]: plain, versions["other"]: other, versions["sabotaged"]: plain}
    adult_spec = specs["adult_income"]
    adult = adult_frame(shared_data_dir, adult_spec)
    classifier = fit_pipeline(adult_spec, adult.iloc[:600], {"model__max_iter": 20})
    set_alias(
        settings, adult_spec.name, "champion", register(settings, adult_spec, classifier, adult.iloc[:20])
    )
    return Registry(
        settings,
        spec,
        frame,
        versions["plain"],
        versions["other"],
        versions["sabotaged"],
        models,
        adult_spec,
        adult,
        classifier,
    )


@pytest.fixture
def home_settings(registry: Registry, tmp_path: Path) -> Iterator[Settings]:
    yield isolated(registry.settings, tmp_path / "home")
