"""Which runtime scores a loaded model version: compiled ONNX when it is proven equal, else scikit-learn.

The choice is made once per version, off the request path (the holder's loading thread), and
recorded on the `ServingModel` so /v1/deployment and /metrics say what is answering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlops_pipelines.lib.scoring.prediction_log import Predictions

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

FeatureColumns = dict[
    str, np.ndarray
]  # model input columns in model order (lib.features.build_feature_arrays)
RuntimeMode = Literal["auto", "onnx", "sklearn"]


@dataclass(frozen=True)
class Runtime:
    name: Literal["onnx", "sklearn", "pyfunc"]
    note: str  # the parity check's deviation, or why the model was not compiled


@dataclass(frozen=True)
class Predictor:
    predict: Callable[[FeatureColumns], Predictions]
    classes: tuple[str, ...]
    runtime: Runtime


def _raw_model(pyfunc: Any) -> Any:
    try:
        return pyfunc.get_raw_model()
    except NotImplementedError:
        return None


def build_predictor(pyfunc: Any, example: Any, spec: ProjectSpec, mode: RuntimeMode = "auto") -> Predictor:
    """The fastest faithful way to score this version.

    The pyfunc layer adds schema enforcement and copies per call; requests were already
    validated more strictly from the spec, so the raw estimator (or its compiled form) gives
    the same numbers faster. Raises CompileError when `mode` is 'onnx' and compiling fails.
    """
    from mlops_pipelines.lib.scoring.compiled import CompileError, compile_pipeline

    raw = _raw_model(pyfunc)
    if mode != "sklearn" and raw is not None:
        try:
            compiled = compile_pipeline(raw, example)
        except CompileError as err:
            if mode == "onnx":
                raise
            log.info("%s: scoring with scikit-learn: %s", spec.name, err)
            fallback = Runtime("sklearn", f"not compiled: {err}")
        else:
            runtime = Runtime("onnx", f"max deviation from scikit-learn {compiled.max_deviation:.3g}")
            return _wrap(compiled.predict, compiled.classes, spec, runtime)
    elif raw is None:
        if mode == "onnx":
            raise CompileError("the model is not a scikit-learn estimator: nothing to compile")
        fallback = Runtime("pyfunc", "the model is not a scikit-learn estimator")
    else:
        fallback = Runtime("sklearn", "runtime: sklearn in the spec")
    return _sklearn(pyfunc, raw, spec, fallback)


def _sklearn(pyfunc: Any, raw: Any, spec: ProjectSpec, runtime: Runtime) -> Predictor:
    if not spec.task.is_classification:
        predict = raw.predict if raw is not None and hasattr(raw, "predict") else pyfunc.predict
        return _wrap(lambda columns: predict(pd.DataFrame(columns)), (), spec, runtime)
    if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
        classes = tuple(str(c) for c in raw.classes_)
        proba = raw.predict_proba
    else:
        # The pyfunc was logged with pyfunc_predict_fn='predict_proba': columns are sklearn's
        # sorted classes.
        classes = tuple(sorted(spec.classes or ()))
        proba = pyfunc.predict
    return _wrap(lambda columns: proba(pd.DataFrame(columns)), classes, spec, runtime)


def _wrap(
    model: Callable[[FeatureColumns], Any], classes: tuple[str, ...], spec: ProjectSpec, runtime: Runtime
) -> Predictor:
    task, declared = spec.task, spec.classes
    if not task.is_classification:
        return Predictor(
            lambda columns: Predictions.regression(np.asarray(model(columns), dtype="float64")), (), runtime
        )

    def classify(columns: FeatureColumns) -> Predictions:
        return Predictions.classification(np.asarray(model(columns)), classes, task, declared)

    return Predictor(classify, classes, runtime)
