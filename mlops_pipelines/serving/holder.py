"""The loaded models behind the service and their hot swap.

A background thread polls the registry for the `champion` and `challenger` aliases. A new
version is loaded off the request path and published by one reference assignment, so a
request that already took the old model finishes on it and the next one gets the new model:
no request ever sees a half-loaded model. A version that fails to load (missing or corrupt
artifact, sha256 mismatch) leaves the last good model serving and the holder degraded. It is
tried again one poll later, then after twice as long each time up to `retry_seconds`: a refit
champion's alias moves inside its promotion step, a moment before Dagster records the step's
materialization that provenance checks, so the first try can be refused and the next one a few
seconds later loads it; a really broken version costs one load a minute.
The reasons it keeps for /readyz and /v1/deployment name the version and the error's type
only: the error's text (artifact paths, store URIs) goes to the service's log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mlops_pipelines.lib.scoring.prediction_log import Predictions
from mlops_pipelines.serving.runtime import FeatureColumns, Runtime, RuntimeMode, build_predictor

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

Alias = Literal["champion", "challenger"]
ALIASES: tuple[Alias, ...] = ("champion", "challenger")


class LoadedArtifact(Protocol):
    """What a model source hands back (lib.registry.aliases.LoadedModel fits).

    An `input_example` attribute (the feature frame logged with the model), when present,
    is what the compiled runtime is checked against; without it the version is not compiled.
    """

    @property
    def model(self) -> Any:  # an mlflow pyfunc model
        ...

    @property
    def version(self) -> str: ...

    @property
    def artifact_sha256(self) -> str: ...


class ModelSource(Protocol):
    def aliases(self) -> dict[str, str]:
        """alias -> version for every alias set now (unset aliases are absent)."""

    def load(self, version: str) -> LoadedArtifact:
        """Load and verify one version; raises on a missing or corrupt artifact."""


@dataclass(frozen=True)
class ServingModel:
    """One loaded, verified model version, ready to score feature columns."""

    version: str
    artifact_sha256: str
    loaded_at: datetime
    predict: Callable[[FeatureColumns], Predictions] = field(repr=False)
    classes: tuple[str, ...] = ()
    runtime: Runtime = field(default_factory=lambda: Runtime("sklearn", ""))


def serving_model(loaded: LoadedArtifact, spec: ProjectSpec, mode: RuntimeMode = "auto") -> ServingModel:
    predictor = build_predictor(loaded.model, getattr(loaded, "input_example", None), spec, mode)
    return ServingModel(
        version=str(loaded.version),
        artifact_sha256=loaded.artifact_sha256,
        loaded_at=datetime.now(UTC),
        predict=predictor.predict,
        classes=predictor.classes,
        runtime=predictor.runtime,
    )


@dataclass(frozen=True)
class AliasState:
    """What the holder knows about one alias, for /readyz and /v1/deployment."""

    alias: Alias
    model: ServingModel | None
    wanted: str | None  # the version the registry points at, as of the last poll
    error: str | None  # why `wanted` is not the one serving, if it failed


class ModelHolder:
    """Holds the champion and challenger and swaps them when the registry aliases move."""

    def __init__(
        self,
        source: ModelSource,
        spec: ProjectSpec,
        poll_seconds: float = 5.0,
        retry_seconds: float = 60.0,
        on_swap: Callable[[Alias, ServingModel | None], None] | None = None,
        runtime: RuntimeMode | None = None,
    ) -> None:
        self._source = source
        self._runtime: RuntimeMode = runtime or spec.serving.runtime
        self._spec = spec
        self.poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._on_swap = on_swap
        self._models: dict[Alias, ServingModel | None] = {"champion": None, "challenger": None}
        self._wanted: dict[Alias, str | None] = {"champion": None, "challenger": None}
        self._errors: dict[Alias, str | None] = {"champion": None, "challenger": None}
        self._failed_at: dict[tuple[Alias, str], tuple[float, float]] = {}  # (when, wait before next)
        self._registry_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_poll: datetime | None = None

    @property
    def champion(self) -> ServingModel | None:
        return self._models["champion"]

    @property
    def challenger(self) -> ServingModel | None:
        """The challenger, unless it is the champion's own version (nothing to compare)."""
        challenger, champion = self._models["challenger"], self._models["champion"]
        if challenger is None or (champion is not None and challenger.version == champion.version):
            return None
        return challenger

    def state(self, alias: Alias) -> AliasState:
        return AliasState(alias, self._models[alias], self._wanted[alias], self._errors[alias])

    @property
    def degraded_reasons(self) -> list[str]:
        reasons = [f"{alias}: {error}" for alias, error in self._errors.items() if error]
        if self._registry_error:
            reasons.append(f"registry: {self._registry_error}")
        return reasons

    def refresh(self) -> None:
        """One poll of both aliases; loads and swaps what moved."""
        try:
            found = self._source.aliases()
        except Exception as err:  # noqa: BLE001 - registry down: keep serving what is loaded
            self._registry_error = f"cannot read the aliases ({type(err).__name__})"
            log.warning("model registry poll failed: %s: %s", type(err).__name__, err)
            return
        for alias in ALIASES:
            wanted = found.get(alias)
            self._wanted[alias] = wanted
            self._sync(alias, wanted)
        self._registry_error = None
        self.last_poll = datetime.now(UTC)

    def _sync(self, alias: Alias, wanted: str | None) -> None:
        current = self._models[alias]
        if wanted is None:
            self._errors[alias] = None
            if current is not None and alias == "challenger":
                self._publish(alias, None)
            return
        if current is not None and current.version == wanted:
            self._errors[alias] = None
            return
        failed = self._failed_at.get((alias, wanted))
        if failed is not None and time.monotonic() - failed[0] < failed[1]:
            return
        try:
            loaded = serving_model(self._source.load(wanted), self._spec, self._runtime)
        except Exception as err:  # noqa: BLE001 - any load failure: keep the last good model
            wait = self.poll_seconds if failed is None else failed[1] * 2
            self._failed_at[(alias, wanted)] = (time.monotonic(), min(wait, self._retry_seconds))
            serving = current.version if current else "nothing"
            self._errors[alias] = (
                f"version {wanted} failed to load ({type(err).__name__}); still serving {serving}"
            )
            log.error("%s %s: %s: %s", self._spec.name, alias, self._errors[alias], err)
            return
        self._failed_at.pop((alias, wanted), None)
        self._errors[alias] = None
        self._publish(alias, loaded)

    def _publish(self, alias: Alias, model: ServingModel | None) -> None:
        previous = self._models[alias]
        self._models[alias] = model  # the swap: one reference assignment
        log.info(
            "%s %s: %s -> %s",
            self._spec.name,
            alias,
            previous.version if previous else None,
            model.version if model else None,
        )
        if self._on_swap is not None:
            self._on_swap(alias, model)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="model-holder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the poller must survive anything; the reason is logged
                log.exception("model holder poll crashed")
            self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
