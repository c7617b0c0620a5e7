"""Every picture vidops draws: confusion matrix, training curves, model selection.

Inputs are plain figures (lists, or objects with the named attributes), so this module
draws what training and evaluation computed without importing either.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from vidops.fileio import atomic_write


def _pyplot() -> Any:
    # Imported when a picture is drawn (it costs a second), with the Agg backend: no display
    # on servers and CI.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # bbox_inches="tight": long class names and titles widen the picture instead of being cut
    atomic_write(path, lambda handle: fig.savefig(handle, format=path.suffix.lstrip(".") or "png",
                                                  dpi=110, bbox_inches="tight"))
    plt.close(fig)


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str) -> tuple[Any, Any]:
    """The confusion matrix as a figure whose size and type scale with the number of classes:
    readable from 2 to 50 (cells stay at least ~0.4 inch; counts of 0 are left out past 15
    classes, so the mistakes stand out)."""
    plt = _pyplot()
    cm = np.asarray(matrix)
    n = len(classes)
    side = min(22.0, max(4.5, 0.42 * n + 3))
    ticks = max(5.0, min(10.0, 300 / n))
    counts = max(5.0, min(10.0, 150 / n))
    fig, ax = plt.subplots(figsize=(side + 1, side))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45 if n <= 12 else 90,
                  ha="right" if n <= 12 else "center", fontsize=ticks)
    ax.set_yticks(range(n), classes, fontsize=ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    wrapped = "\n".join(textwrap.fill(line, int(9 * side)) for line in title.splitlines())
    ax.set_title(wrapped, fontsize=max(8.0, min(11.0, 2 * side)))
    for i in range(n):
        for j in range(n):
            if cm[i, j] == 0 and n > 15:
                continue
            colour = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour, fontsize=counts)
    fig.tight_layout()
    return plt, fig


def plot_confusion(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    plt, fig = confusion_figure(matrix, classes, title)
    _save(plt, fig, path)


def plot_curves(history: list[Any], path: Path, strength: Any = None) -> None:
    """Loss and quality per epoch; ``history`` rows have the fields of ``EpochStats``.

    A linear head (one fit, no epochs) draws what its fit did instead: ``strength`` (a
    ``StreamHeads``), the held-out log loss of each regularisation strength per CV fold
    (per stream, with the fusion weights, when there are several).
    """
    if strength is not None and len(history) == 1:
        _plot_strength(history[0], strength, path)
        return
    plt = _pyplot()
    epochs = [s.epoch for s in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [s.train_loss for s in history], marker=".", label="train")
    left.plot(epochs, [s.val_loss for s in history], marker=".", label="val")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    left.legend()
    right.plot(epochs, [s.train_acc for s in history], marker=".", label="train accuracy")
    right.plot(epochs, [s.val_f1 for s in history], marker=".", label="val macro F1")
    right.set(xlabel="epoch", ylim=(0, 1.02), title="quality")
    right.legend()
    _save(plt, fig, path)


def _plot_strength(fit: Any, heads: Any, path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    several = len(heads.paths) > 1
    strength = heads.paths[0]
    if several and any(any(p.fold_losses) for p in heads.paths):
        # One curve per stream (its fold mean), its chosen C marked; the weights in the title.
        for stream, p, w in zip(heads.streams, heads.paths, heads.weights, strict=True):
            line, = left.plot(p.grid, p.mean_losses(), marker="o", label=f"{stream} (weight {w:.1f})")
            left.axvline(p.best, color=line.get_color(), linestyle="--")
        left.set(xscale="log", xlabel="C (inverse L2 strength)", ylabel="held-out log loss",
                 title="each stream's strength by group CV")
        left.legend(fontsize=7)
    elif any(strength.fold_losses):
        for fold in range(max(len(x) for x in strength.fold_losses)):
            points = [(c, x[fold]) for c, x in zip(strength.grid, strength.fold_losses, strict=True)
                      if fold < len(x)]
            left.plot(*zip(*points, strict=True), marker=".", alpha=0.4,
                      label=f"fold {fold + 1}")
        left.plot(strength.grid, strength.mean_losses(), marker="o", color="black", label="mean")
        left.axvline(strength.best, color="tab:red", linestyle="--", label=f"chosen C={strength.best:g}")
        left.set(xscale="log", xlabel="C (inverse L2 strength)", ylabel="held-out log loss",
                 title="head strength by group CV (train clips)")
        left.legend(fontsize=7)
    else:
        left.text(0.5, 0.5, f"C = {strength.best:g}\nnot cross-validated:\n{strength.why}",
                  ha="center", va="center", transform=left.transAxes)
        left.set(title="head strength", xticks=[], yticks=[])
    names = ["train accuracy", "val accuracy", "val macro F1"]
    values = [fit.train_acc, fit.val_acc, fit.val_f1]
    right.bar(names, values, color=["tab:blue", "tab:orange", "tab:green"])
    for i, value in enumerate(values):
        right.text(i, value + 0.02, f"{value:.3f}", ha="center")
    title = "late fusion of the streams" if several else f"the fit at C={strength.best:g}"
    right.set(ylim=(0, 1.1), title=f"{title} (one fit, no epochs)")
    _save(plt, fig, path)


def plot_selection(selection: Any, path: Path) -> None:
    """Fold scores as dots and the mean as a bar per candidate; the winner highlighted.
    Drawn only after a selection (train leaves no picture for a fixed arch)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(selection.candidates), 3.2))
    for x, cand in enumerate(selection.candidates):
        colour = "tab:green" if cand.arch == selection.winner else "tab:gray"
        if cand.mean_f1 is not None:
            ax.bar(x, cand.mean_f1, color=colour, alpha=0.5)
        ax.scatter([x] * len(cand.fold_f1), cand.fold_f1, color=colour, zorder=3)
        if cand.mean_f1 is None:
            ax.text(x, 0.05, "skipped", ha="center", rotation=90)
    ax.set_xticks(range(len(selection.candidates)), [c.arch for c in selection.candidates])
    ax.set(ylim=(0, 1.02), ylabel="macro F1 per fold",
           title=f"model.arch auto: {selection.folds} group folds -> {selection.winner}")
    _save(plt, fig, path)
