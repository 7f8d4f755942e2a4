"""The batch scoring stage: each partition's features scored by the champion the lineage names.

`score_partitions` is what the `predictions` asset runs (and the benchmarks' plain path). The
champion arrives as a `ChampionRef` (the `champion` asset's value), so scoring never asks the
registry which version serves: it loads exactly that version, verified against the sha256
recorded at training. Its rows go to the prediction log with route `batch` and the version on
every row; only this stage's `batch` rows of its partitions are replaced, never the rows the
HTTP service logged (routes champion, shadow, canary).

No champion yet (no promotion so far) is a normal state, not an error: nothing is scored and
the result says so (an empty slice, `champion_version` None). A champion whose version no
longer loads (deleted, tampered, unreadable) is an error that names the version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, ROW_ID, TableSlice

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.scoring.prediction_log import Predictions, Route
    from mlops_pipelines.spec import ProjectSpec

BATCH_ROUTE: Final[Route] = (
    "batch"  # the prediction log's route of this stage's rows (lib.scoring.prediction_log)
)


class ModelVersionLoadError(RuntimeError):
    """A model version the lineage names cannot be loaded; the message names project and version."""


@dataclass(frozen=True)
class ScoringResult:
    """What one scoring run wrote to the prediction log, and with which champion."""

    predictions: TableSlice  # no partitions and version -1 when there was no champion
    champion_version: str | None  # None: no champion yet, nothing scored
    rows: int
    mean_prediction: float | None  # regression: mean predicted value; None otherwise or when empty
    mean_score: float | None  # classification: mean score; None otherwise or when empty
    # Each scored partition's own: rows and mean outputs, so a range run can record every
    # partition apart (the run's totals above describe the whole range).
    partitions: Mapping[str, PartitionScores] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionScores:
    rows: int
    mean_prediction: float | None  # as in ScoringResult, for this partition's rows alone
    mean_score: float | None


def partition_scores(
    keys: Sequence[str], partitions: Sequence[str], scored: Predictions
) -> dict[str, PartitionScores]:
    """Rows and mean outputs of each of `partitions` (0 rows and None means when it had none)."""
    import numpy as np

    at = np.asarray(keys, dtype=object)

    def mean(values: np.ndarray | None, mask: np.ndarray) -> float | None:
        return float(values[mask].mean()) if values is not None and mask.any() else None

    found = {}
    for partition in partitions:
        mask = at == partition
        found[partition] = PartitionScores(
            int(mask.sum()), mean(scored.value, mask), mean(scored.score, mask)
        )
    return found


def serving_version(champion: ChampionRef | None) -> str | None:
    """The champion's registry version; None and a ChampionRef without a version alike mean none."""
    return None if champion is None else champion.version


def load_version(tracking: TrackingConfig, spec: ProjectSpec, version: str, role: str) -> Any:
    """The fitted pipeline of `version`, loaded by version (a load, not a lookup of who serves).

    `role` says which model it is ("the champion", "the model that scored 2011-02-03").
    """
    from mlops_pipelines.lib.registry.lookup import RegistryError
    from mlops_pipelines.lib.registry.model_loading import load_model

    try:
        return load_model(tracking, spec.name, version).model.get_raw_model()
    except RegistryError as err:  # missing version, integrity or pyfunc failure: say whose it is
        raise ModelVersionLoadError(
            f"{spec.name}: {role} (version {version}) cannot be loaded: {err}"
        ) from err


def score_partitions(
    spec: ProjectSpec,
    features: TableSlice,
    champion: ChampionRef | None,
    tables: TableStore,
    tracking: TrackingConfig,
) -> ScoringResult:
    """Score the rows `features` pins with `champion` and replace its partitions' batch rows.

    Raises ModelVersionLoadError when the champion's version cannot be loaded; read and write
    errors of the tables propagate unchanged.
    """
    version = serving_version(champion)
    if version is None:
        empty = TableSlice(
            f"{spec.name}/{names.PREDICTIONS}", tables.uri(spec.name, names.PREDICTIONS), -1, (), 0
        )
        return ScoringResult(empty, None, 0, None, None)

    from mlops_pipelines.lib.scoring.prediction_log import build_log_frame, predict_frame

    model = load_version(tracking, spec, version, "the champion")
    rows = tables.read_slice(features)
    scored = predict_frame(spec, model, rows)
    request_ids = (rows[PARTITION].astype(str) + ":" + rows[ROW_ID].astype(str)).tolist()
    log = build_log_frame(spec, rows, scored, BATCH_ROUTE, version, request_ids, 0.0)
    piece = tables.write_partitions(
        spec.name, names.PREDICTIONS, log, list(features.partitions), where={"route": BATCH_ROUTE}
    )
    present = len(scored) > 0
    return ScoringResult(
        predictions=piece,
        champion_version=version,
        rows=len(log),
        mean_prediction=float(scored.value.mean()) if scored.value is not None and present else None,
        mean_score=float(scored.score.mean()) if scored.score is not None and present else None,
        partitions=partition_scores(rows[PARTITION].astype(str).tolist(), features.partitions, scored),
    )
