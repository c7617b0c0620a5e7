"""Classification figures with scikit-learn: accuracy, precision, recall, F1, confusions."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def classification_summary(y_true: list[str], y_pred: list[str], classes: list[str]) -> dict:
    """Accuracy, macro and weighted P/R/F1, per-class P/R/F1/support and the confusion matrix."""
    summary: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "n_clips": len(y_true)}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=classes, average=average, zero_division=0)
        summary[f"{average}_precision"] = float(p)
        summary[f"{average}_recall"] = float(r)
        summary[f"{average}_f1"] = float(f)
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0)
    summary["per_class"] = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    summary["classes"] = classes
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    summary["confusion_matrix"] = matrix.tolist()
    summary["most_confused"] = most_confused(matrix, classes)
    return summary


def most_confused(matrix: np.ndarray, classes: list[str], top: int = 5) -> list[dict]:
    """The off-diagonal cells with the most clips: which class is mistaken for which."""
    cells = [(int(matrix[i, j]), t, p) for i, t in enumerate(classes)
             for j, p in enumerate(classes) if i != j and matrix[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"true": t, "predicted": p, "clips": n} for n, t, p in cells[:top]]
