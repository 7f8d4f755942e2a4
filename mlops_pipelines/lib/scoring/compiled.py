"""A fitted scikit-learn pipeline compiled to ONNX for low-latency scoring, trusted only after a parity check.

scikit-learn pays a fixed Python cost per call and per tree: a 100-tree HistGradientBoosting
pipeline costs about 1 ms on one row, most of it interpreter time under the GIL. onnxruntime
runs the whole pipeline in one native call that releases the GIL (about 40 us for one row,
measured here). ONNX tree ensembles compute in float32, so a compiled pipeline is accepted only
when it reproduces scikit-learn on the model's own input example, and on a copy of it with
nulls injected, within `Tolerance`; otherwise the caller keeps scikit-learn and records why.

Only all-numeric inputs are compiled: sklearn's categorical steps read None as missing, which
an ONNX string tensor cannot carry, and HistGradientBoosting's native categorical splits have
no ONNX converter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}


class CompileError(RuntimeError):
    """The pipeline cannot be compiled, or the compiled form disagrees with scikit-learn."""


@dataclass(frozen=True)
class Tolerance:
    """How far ONNX may stray from scikit-learn: |onnx - sklearn| <= atol * scale + rtol * |sklearn|.

    `scale` is the largest absolute sklearn prediction (at least 1) for regression and 1 for
    probabilities, so the bound follows the target's units.
    """

    rtol: float = 1e-4
    atol: float = 1e-4


@dataclass(frozen=True)
class CompiledPipeline:
    """An onnxruntime session that scores feature columns like the pipeline it was compiled from."""

    session: Any = field(repr=False)
    inputs: tuple[str, ...]  # feature columns, fed as float32 (n, 1) tensors
    feeds: tuple[str, ...]  # the session's input names, in `inputs` order (ONNX sanitises names)
    classes: tuple[str, ...]  # probability columns, in the pipeline's classes_ order; () for regression
    max_deviation: float  # the largest difference the parity check saw

    def predict(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Regression values (n,) or class probabilities (n, classes)."""
        feeds = {
            feed: np.asarray(columns[name], dtype=np.float32).reshape(-1, 1)
            for name, feed in zip(self.inputs, self.feeds, strict=True)
        }
        if self.classes:
            return np.asarray(self.session.run(["probabilities"], feeds)[0], dtype="float64")
        return np.asarray(self.session.run(None, feeds)[0], dtype="float64").reshape(-1)


def compile_pipeline(
    pipeline: Any, example: pd.DataFrame, tolerance: Tolerance | None = None
) -> CompiledPipeline:
    """Compile `pipeline` (fitted on frames with `example`'s columns) and check it on `example`.

    Raises CompileError naming the reason: a non-numeric column, no converter for a step,
    or predictions that differ from scikit-learn's beyond `tolerance`.
    """
    tolerance = tolerance or Tolerance()
    if example is None or len(example) == 0 or len(example.columns) == 0:
        raise CompileError("no input example to check the compiled model against")
    non_numeric = [str(c) for c in example.columns if not pd.api.types.is_numeric_dtype(example[c])]
    if non_numeric:
        raise CompileError(f"non-numeric feature column(s) {non_numeric[:5]}: only numeric inputs compile")
    classes = tuple(str(c) for c in getattr(pipeline, "classes_", ()))
    columns = tuple(str(c) for c in example.columns)
    session = _session(_convert(pipeline, list(columns), bool(classes)))
    feeds = tuple(str(i.name) for i in session.get_inputs())
    if len(feeds) != len(columns):
        raise CompileError(f"the ONNX model takes {len(feeds)} inputs for {len(columns)} feature columns")
    compiled = CompiledPipeline(session, columns, feeds, classes, 0.0)
    deviation = max(
        _deviation(pipeline, compiled, frame, tolerance) for frame in (example, with_nulls(example))
    )
    return CompiledPipeline(session, columns, feeds, classes, deviation)


def with_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with NaN in one column per row, rotating, so every column's missing branch is taken."""
    values = frame.to_numpy(dtype="float64", copy=True)
    rows = np.arange(len(values))
    values[rows, rows % values.shape[1]] = np.nan
    return pd.DataFrame(values, columns=frame.columns, index=frame.index)


def _convert(pipeline: Any, columns: list[str], classify: bool) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options: dict[Any, Any] = {}
    if classify:
        final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        options[id(final)] = {"zipmap": False}  # a plain probability matrix, not a list of dicts
    try:
        return convert_sklearn(
            pipeline,
            initial_types=[(name, FloatTensorType([None, 1])) for name in columns],
            target_opset=ONNX_OPSET,
            options=options,
        )
    except Exception as err:  # skl2onnx raises many types (missing converter, shape errors)
        raise CompileError(f"no ONNX conversion: {type(err).__name__}: {str(err)[:300]}") from err


def _session(model: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Requests are batched by the caller; one thread per call, and no spinning threads that
    # would compete with the event loop for a core.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types are not importable as a base
        raise CompileError(f"onnxruntime refused the model: {str(err)[:300]}") from err


def _deviation(pipeline: Any, compiled: CompiledPipeline, frame: pd.DataFrame, tolerance: Tolerance) -> float:
    columns = {name: frame[name].to_numpy() for name in compiled.inputs}
    try:
        got = compiled.predict(columns)
    except Exception as err:  # onnxruntime's errors have no importable base class
        raise CompileError(f"the ONNX model failed on the example: {type(err).__name__}: {err}") from err
    if compiled.classes:
        expected = np.asarray(pipeline.predict_proba(frame), dtype="float64")
        if got.shape != expected.shape:
            raise CompileError(f"ONNX gives {got.shape} probabilities, scikit-learn {expected.shape}")
        flipped = int((got.argmax(axis=1) != expected.argmax(axis=1)).sum())
        if flipped:
            raise CompileError(f"ONNX changes the predicted class on {flipped} of {len(frame)} example rows")
        scale = 1.0
    else:
        expected = np.asarray(pipeline.predict(frame), dtype="float64").reshape(-1)
        scale = max(1.0, float(np.abs(expected).max()))
    gap = np.abs(got - expected)
    allowed = tolerance.atol * scale + tolerance.rtol * np.abs(expected)
    if not np.isfinite(got).all() or (gap > allowed).any():
        worst = float(np.nanmax(gap)) if np.isfinite(gap).any() else float("inf")
        raise CompileError(
            f"ONNX differs from scikit-learn by up to {worst:.3g} on {len(frame)} example rows "
            f"(allowed {tolerance.atol:g} x {scale:.3g} + {tolerance.rtol:g} x |prediction|)"
        )
    return float(gap.max())
