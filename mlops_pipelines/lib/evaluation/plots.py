"""PNG charts of an evaluation, rendered off-screen (matplotlib Agg) for artifact stores."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import Evaluation
    from mlops_pipelines.lib.metrics import Predictions

MAX_IMPORTANCE_BARS = 20
MAX_SCATTER_POINTS = 5000


def _figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A bare Figure on its own Agg canvas (not pyplot): no global backend switch, no figure
    # registry to leak between calls or threads.
    figure = Figure(figsize=(6, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _confusion(evaluation: Evaluation) -> bytes:
    assert evaluation.confusion_matrix is not None
    figure, ax = _figure()
    matrix = np.asarray(evaluation.confusion_matrix)
    labels = list(evaluation.predictions.classes)
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    return _png(figure)


def _one_vs_rest(pred: Predictions) -> list[tuple[str, np.ndarray, np.ndarray]]:
    assert pred.proba is not None
    if pred.positive is not None:
        return [(pred.positive, pred.y_true == pred.positive, pred.positive_scores)]
    return [(label, pred.y_true == label, pred.proba[:, k]) for k, label in enumerate(pred.classes)]


def _curves(pred: Predictions, kind: str) -> bytes:
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    figure, ax = _figure()
    for label, truth, scores in _one_vs_rest(pred):
        if truth.all() or not truth.any():
            continue  # a curve needs both outcomes
        if kind == "roc":
            fpr, tpr, _ = roc_curve(truth, scores)
            ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
        else:
            precision, recall, _ = precision_recall_curve(truth, scores)
            ap = average_precision_score(truth, scores)
            ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    else:
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    ax.legend(loc="best", fontsize="small")
    return _png(figure)


def _sample(pred: Predictions) -> Predictions:
    if len(pred.y_true) <= MAX_SCATTER_POINTS:
        return pred
    keep = np.zeros(len(pred.y_true), dtype=bool)
    keep[np.random.default_rng(0).choice(len(keep), MAX_SCATTER_POINTS, replace=False)] = True
    return pred.subset(keep)


def _residuals(pred: Predictions) -> bytes:
    figure, ax = _figure()
    shown = _sample(pred)
    ax.scatter(shown.y_pred, shown.y_true - shown.y_pred, s=6, alpha=0.4)
    ax.axhline(0.0, color="grey", linestyle="--")
    ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
    return _png(figure)


def _predicted_vs_actual(pred: Predictions) -> bytes:
    figure, ax = _figure()
    shown = _sample(pred)
    ax.scatter(shown.y_true, shown.y_pred, s=6, alpha=0.4)
    low = float(min(shown.y_true.min(), shown.y_pred.min()))
    high = float(max(shown.y_true.max(), shown.y_pred.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    return _png(figure)


def _importance(evaluation: Evaluation) -> bytes:
    figure, ax = _figure()
    items = evaluation.importance[:MAX_IMPORTANCE_BARS][::-1]
    ax.barh([i.feature for i in items], [i.mean for i in items], xerr=[i.std for i in items])
    ax.set(xlabel=f"score drop ({evaluation.primary_metric})", title="Permutation importance")
    return _png(figure)


def render_plots(evaluation: Evaluation) -> dict[str, bytes]:
    """File name -> PNG bytes: confusion matrix, ROC and PR curves for classifiers; residuals and
    predicted-vs-actual for regression; feature importance when it was computed."""
    pred = evaluation.predictions
    plots: dict[str, bytes] = {}
    if evaluation.task.is_classification:
        plots["confusion_matrix.png"] = _confusion(evaluation)
        plots["roc_curve.png"] = _curves(pred, "roc")
        plots["pr_curve.png"] = _curves(pred, "pr")
    else:
        plots["residuals.png"] = _residuals(pred)
        plots["predicted_vs_actual.png"] = _predicted_vs_actual(pred)
    if evaluation.importance:
        plots["feature_importance.png"] = _importance(evaluation)
    return plots
