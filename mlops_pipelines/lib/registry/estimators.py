"""The champion's label-free performance estimator, stored beside its registry version.

A fitted `PerformanceEstimator` (lib.monitoring.estimation) is pickled once, at promotion, and
logged as an artifact of the promoted version's MLflow run; its URI and the sha256 of the
pickled bytes are recorded as model-version tags (and in the `ChampionRef`). `load_estimator`
downloads the file to a private temporary directory, checks the sha256 against the recorded one
and only then unpickles, from that same copy: a changed or swapped file is refused before any
of its bytes run. Cost: a few kB (CBPE) to about 300 kB (DLE) per promotion.
"""

from __future__ import annotations

import hashlib
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipelines.lib.registry.lookup import RegistryError
from mlops_pipelines.lib.registry.session import TrackingConfig, is_unavailable, open_client

if TYPE_CHECKING:
    from mlops_pipelines.lib.monitoring.estimation import PerformanceEstimator

ESTIMATOR_DIR = "estimator"
ESTIMATOR_FILE = "estimator.pkl"


class EstimatorIntegrityError(RegistryError):
    """A stored estimator that is missing, differs from its recorded sha256, or is no estimator."""


@dataclass(frozen=True)
class StoredEstimator:
    uri: str  # runs:/<run_id>/estimator/estimator.pkl
    sha256: str  # of the pickled bytes


def store_estimator(cfg: TrackingConfig, run_id: str, estimator: PerformanceEstimator) -> StoredEstimator:
    """Pickle `estimator` and log it as an artifact of run `run_id`; returns its URI and sha256."""
    payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest()
    with tempfile.TemporaryDirectory(prefix="mlops-estimator-") as tmp, open_client(cfg) as client:
        local = Path(tmp) / ESTIMATOR_FILE
        local.write_bytes(payload)
        client.log_artifact(run_id, str(local), ESTIMATOR_DIR)
    return StoredEstimator(f"runs:/{run_id}/{ESTIMATOR_DIR}/{ESTIMATOR_FILE}", digest)


def load_estimator(cfg: TrackingConfig, uri: str, sha256: str) -> PerformanceEstimator:
    """Download the estimator at `uri`, verify its sha256, then unpickle it.

    Raises EstimatorIntegrityError when the file is missing, its sha256 differs from `sha256`,
    or it does not hold a PerformanceEstimator; TrackingUnavailable when the store is down.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from mlops_pipelines.lib.monitoring.estimation import PerformanceEstimator

    with tempfile.TemporaryDirectory(prefix="mlops-estimator-") as tmp, open_client(cfg):
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=tmp,
                tracking_uri=cfg.tracking_uri,
                registry_uri=cfg.resolved_registry_uri,
            )
            payload = Path(local).read_bytes()
        except (MlflowException, OSError) as err:
            if is_unavailable(err):
                raise
            raise EstimatorIntegrityError(f"estimator {uri}: missing or unreadable: {err}") from err
    actual = hashlib.sha256(payload).hexdigest()
    if actual != sha256:
        raise EstimatorIntegrityError(
            f"estimator {uri}: sha256 {actual} does not match {sha256} recorded at promotion; "
            "refusing to unpickle it"
        )
    # Safe to unpickle: the bytes match the sha256 recorded when we wrote them.
    estimator = pickle.loads(payload)
    if not isinstance(estimator, PerformanceEstimator):
        raise EstimatorIntegrityError(
            f"estimator {uri}: holds a {type(estimator).__name__}, not an estimator"
        )
    return estimator
