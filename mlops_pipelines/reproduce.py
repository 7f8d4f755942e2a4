"""`mlops-pipelines reproduce`: rebuild a registered model version from its lineage, compare exactly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

REPO_DIR = Path(__file__).resolve().parents[1]


def reproduce_version(
    project: str, version: str, specs: dict[str, ProjectSpec] | None = None
) -> dict[str, Any]:
    """Retrain `version` (a number or an alias) of `project` and report whether every metric matches.

    `specs` replaces the spec directories (tests pass the spec they trained with). The report
    always has `project`, `version`, `match` and `metrics` ({name: {recorded, reproduced}}).
    The registry and lake are MLOPS_ENV's: the same resources the training step used.
    """
    from mlops_pipelines.lib.reproduction.replay import reproduce
    from mlops_pipelines.resources.environment import environment_for
    from mlops_pipelines.spec import SpecError, load_specs

    specs = load_specs() if specs is None else specs
    if project not in specs:
        raise SpecError(f"project '{project}' has no spec (known: {', '.join(sorted(specs)) or 'none'})")
    env = environment_for()
    report = reproduce(
        specs[project],
        env.tracking_config(),
        str(version),
        storage_options=env.lakehouse().storage_options(),
        repo_dir=REPO_DIR,
    )
    return report.to_dict()
