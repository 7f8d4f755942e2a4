"""What a training run recorded, read back for `reproduce`: lineage tags, params, metrics, rows.

Also decides how to replay the hyperparameter search. The spec's training section may have
changed since the run; the run's `cv_results.csv` lists the candidates it tried, so the
current spec's search is replayed only when it would try exactly those, else the recorded
best parameters are pinned (one candidate: its CV scores and refit do not depend on the others).
"""

from __future__ import annotations

import ast
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

CV_RESULTS_ARTIFACT = "cv_results.csv"
_NOT_HYPERPARAMETERS = frozenset({"family", "seed"})


class ReproductionError(RuntimeError):
    """The recorded lineage cannot be replayed; the message names the run, table or version."""


def param_text(value: Any) -> str:
    """A parameter value as MLflow stores it (the same rendering as lib.registry.tracking)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class TrainingRecord:
    project: str
    version: str  # registry version (an alias given by the caller is resolved)
    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    candidates: pd.DataFrame | None  # parameter columns of cv_results.csv, as text; None if absent

    def tag(self, name: str) -> str:
        if name not in self.tags:
            raise ReproductionError(
                f"{self.project} version {self.version}: run {self.run_id} has no '{name}' tag; "
                "its lineage is incomplete and cannot be replayed"
            )
        return self.tags[name]

    def range(self, kind: str) -> tuple[str, str]:
        """First and last partition of the recorded `train`, `holdout` or `evaluation` range."""
        text = self.tag(f"mlops.{kind}_partitions")
        first, sep, last = text.partition("..")
        if not sep or not first or not last:
            raise ReproductionError(
                f"run {self.run_id}: tag mlops.{kind}_partitions={text!r} is not 'first..last'"
            )
        return first, last

    @property
    def features_uri(self) -> str:
        return self.tag(names.ML_FEATURES_URI)

    def _int_tag(self, name: str) -> int:
        text = self.tag(name)
        try:
            return int(text)
        except ValueError:
            raise ReproductionError(f"run {self.run_id}: tag {name}={text!r} is not an integer") from None

    @property
    def features_version(self) -> int:
        return self._int_tag(names.ML_FEATURES_VERSION)

    @property
    def data_sha256(self) -> str:
        return self.tag(names.ML_DATA_SHA)

    @property
    def seed(self) -> int:
        return self._int_tag(names.ML_SEED)

    @property
    def primary_metric(self) -> str:
        prefix = names.META_CV_PREFIX
        found = [
            k[len(prefix) :] for k in self.metrics if k.startswith(prefix) and f"{k}_std" in self.metrics
        ]
        if len(found) != 1:
            raise ReproductionError(f"run {self.run_id}: expected one cv_<metric> metric, found {found}")
        return found[0]

    @property
    def best_params(self) -> dict[str, str]:
        # Pipeline hyperparameters are named step__param; the rest is the recorded training section.
        return {k: v for k, v in self.params.items() if "__" in k and k not in _NOT_HYPERPARAMETERS}

    @property
    def holdout_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if k.startswith(names.META_HOLDOUT_PREFIX)}

    @property
    def compared_metrics(self) -> dict[str, float]:
        """Recorded metrics a rebuild must reproduce (training_seconds is wall time: left out)."""
        metric = self.primary_metric
        cv = f"{names.META_CV_PREFIX}{metric}"
        wanted = [cv, f"{cv}_std", "n_train_rows"]
        return {**{n: self.metrics[n] for n in wanted if n in self.metrics}, **self.holdout_metrics}

    def render_params(self, params: dict[str, Any]) -> dict[str, str]:
        return {k: param_text(v) for k, v in params.items()}


def read_record(cfg: TrackingConfig, project: str, version: str) -> TrainingRecord:
    """The training run behind a registered version (or alias) of `project`."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from mlops_pipelines.lib.registry.lookup import ref_of, resolve_version
    from mlops_pipelines.lib.registry.session import open_client

    with open_client(cfg) as client, tempfile.TemporaryDirectory(prefix="mlops-repro-") as tmp:
        ref = ref_of(resolve_version(client, project, str(version)))
        if ref.run_id is None:
            raise ReproductionError(f"{project} version {ref.version}: no training run is linked to it")
        run = client.get_run(ref.run_id)
        try:
            path = client.download_artifacts(ref.run_id, CV_RESULTS_ARTIFACT, tmp)
        except (MlflowException, OSError):
            candidates = None  # search_plan reports it and pins the recorded parameters
        else:
            candidates = pd.read_csv(path, dtype=str, keep_default_na=False)
    return TrainingRecord(
        project=project,
        version=ref.version,
        run_id=ref.run_id,
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        candidates=candidates,
    )


def read_features(
    uri: str, version: int, span: tuple[str, str], storage_options: dict[str, str] | None = None
) -> tuple[list[str], pd.DataFrame]:
    """Every partition in `span` present in the table at `version`, and their rows."""
    from mlops_pipelines.lib import lake
    from mlops_pipelines.lib.frames import PARTITION

    first, last = span
    where = f"{uri} at version {version}"
    if not lake.table_exists(uri, storage_options):
        raise ReproductionError(f"{where}: the features table no longer exists; its recorded rows are gone")
    try:
        keys = [
            k for k in lake.partition_keys(uri, PARTITION, version, storage_options) if first <= k <= last
        ]
        rows = lake.read(uri, version, PARTITION, keys, None, storage_options) if keys else None
    except Exception as err:  # deltalake raises several unrelated types; name table and version
        raise ReproductionError(
            f"{where}: cannot be read ({type(err).__name__}: {err}); "
            "the version was vacuumed or its log removed"
        ) from err
    if rows is None or rows.empty:
        raise ReproductionError(f"{where}: no rows in partitions {first}..{last}")
    return keys, rows


def rendered_candidates(candidates: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Candidates as cv_results.csv holds them: through a CSV round trip, as text, columns sorted."""
    import pandas as pd

    if not any(candidates):  # an empty search space: one candidate, the defaults
        return pd.DataFrame(index=range(len(candidates)))
    text = pd.DataFrame(list(candidates)).to_csv(index=False)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return frame[sorted(frame.columns)]


def planned_candidates(space: dict[str, list[Any]], iterations: int, seed: int) -> list[dict[str, Any]]:
    """The candidates train_model's search tries, in its order (grid, or seeded sample of it)."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    from mlops_pipelines.lib.training.search import grid_size

    if grid_size(space) <= iterations:
        return list(ParameterGrid(space))
    return list(ParameterSampler(space, iterations, random_state=seed))


@dataclass(frozen=True)
class SearchPlan:
    spec: ProjectSpec  # the spec to retrain with: its training section rebuilt from the record
    mode: str  # "replayed" or "pinned"
    changes: tuple[str, ...]  # how the current spec's training section differs from the record
    notes: tuple[str, ...]


def _typed(name: str, text: str, space: dict[str, list[Any]]) -> Any:
    """The recorded text of a parameter back as a value: the spec's own value when it still lists it."""
    for value in space.get(name, []):
        if param_text(value) == text:
            return value
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string parameter, e.g. 'sqrt'


def search_plan(spec: ProjectSpec, record: TrainingRecord) -> SearchPlan:
    """The spec to retrain with: family, seed and metric as recorded; the search replayed or pinned."""
    current = spec.training
    recorded: dict[str, Any] = {
        "family": record.params.get("family", current.family),
        "seed": record.seed,
        "primary_metric": record.primary_metric,
    }
    if "cv_folds" in record.params:
        recorded["cv_folds"] = int(record.params["cv_folds"])
    changes = [
        f"training.{name}: recorded {value!r}, current spec {getattr(current, name)!r}"
        for name, value in recorded.items()
        if value != getattr(current, name)
    ]
    training = current.model_copy(update=recorded)
    notes = (
        []
        if "cv_folds" in record.params
        else [
            f"training.cv_folds is not recorded by the run; the current spec's {current.cv_folds} is assumed"
        ]
    )
    if record.candidates is None:
        notes.append(
            f"run {record.run_id} has no {CV_RESULTS_ARTIFACT}: the recorded best parameters are pinned"
        )
    else:
        scores = {f"mean_{training.primary_metric}", f"std_{training.primary_metric}", "rank"}
        tried = record.candidates[sorted(c for c in record.candidates.columns if c not in scores)]
        space = {k: list(v) for k, v in training.search_space.items()}
        planned = rendered_candidates(planned_candidates(space, training.search_iterations, training.seed))
        if list(planned.columns) == list(tried.columns) and planned.reset_index(drop=True).equals(tried):
            return SearchPlan(
                spec.model_copy(update={"training": training}), "replayed", tuple(changes), tuple(notes)
            )
        changes.append(
            f"training.search_space/search_iterations: the current spec tries {len(planned)} candidate(s) "
            f"over {list(planned.columns)}, the run tried {len(tried)} over {list(tried.columns)}"
        )
    pinned = {name: [_typed(name, text, training.search_space)] for name, text in record.best_params.items()}
    training = training.model_copy(update={"search_space": pinned, "search_iterations": 1})
    return SearchPlan(spec.model_copy(update={"training": training}), "pinned", tuple(changes), tuple(notes))
