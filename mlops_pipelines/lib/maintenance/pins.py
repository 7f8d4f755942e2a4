"""The Delta versions registered models pin: each version's training run names the features
table and version it read (`mlops.features_uri`, `mlops.features_version`); `reproduce` rebuilds
the model from exactly that version, so vacuum must keep it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig


class PinError(RuntimeError):
    """A registered version whose lineage cannot be read; the message names it."""


def model_pins(cfg: TrackingConfig, project: str) -> dict[str, set[int]]:
    """Table URI -> the versions pinned by `project`'s registered models (retired ones too:
    they stay in the registry for lineage, so their data stays rebuildable)."""
    from mlops_pipelines.lib.registry.lookup import list_version_refs, read_aliases
    from mlops_pipelines.lib.registry.session import open_client

    pins: dict[str, set[int]] = defaultdict(set)
    with open_client(cfg) as client:
        if read_aliases(client, project) is None:
            return {}  # no registered model yet: nothing is pinned
        for ref in list_version_refs(client, project):
            if ref.run_id is None:
                continue  # registered without a run: no lineage to keep
            tags = client.get_run(ref.run_id).data.tags
            uri, version = tags.get(names.ML_FEATURES_URI), tags.get(names.ML_FEATURES_VERSION)
            if uri is None or version is None:
                continue  # a model without recorded lineage pins nothing (reproduce refuses it)
            if not version.isdigit():
                raise PinError(
                    f"{project} v{ref.version}: {names.ML_FEATURES_VERSION}={version!r} is not a version"
                )
            pins[uri].add(int(version))
    return dict(pins)
