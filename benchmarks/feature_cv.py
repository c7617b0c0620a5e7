"""Group cross-validation of the flow features of a project, outside the pipeline.

    python benchmarks/feature_cv.py PROJECT [--seeds 3] [--streams flow]

PROJECT is a vidops project whose ``dvc repro validate`` has run (its ``artifacts/``
frames and ``reports/validation.json``). Every usable clip's stream rows come from the
project's feature cache through vidops's own ``clip_rows`` (computed once, stored there);
the rows are pooled and the head fitted as train does (``FeatureLinear.pooled``,
``fit_stream_heads``: one head per stream, fused late), scored by 5-fold group
cross-validation over all clips, strengths and fusion weights chosen inside each fold
(nested: no selection on the scored clips). The figure is the macro F1 of the pooled
out-of-fold predictions, mean and spread over ``--seeds`` fold assignments. Used to
compare frame parameters (make one project per setting): it measures the features, not the whole recipe.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from vidops.config import load_params
from vidops.data.clips import usable_clips
from vidops.models.feature_linear import FeatureLinear
from vidops.models.linear_head import HeadSearch, fit_stream_heads
from vidops.training.clip_features import clip_rows


def cv_macro_f1(model: FeatureLinear, x: np.ndarray, y: np.ndarray, groups: list[str],
                grid: list[float], seed: int) -> float:
    """Pooled out-of-fold macro F1 of the shipped head (``fit_stream_heads``), its
    strengths and fusion weights chosen inside each fold."""
    import torch
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    predicted = np.zeros(len(y), int)
    k = min(5, len(set(groups)))
    for train, held in StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(x, y, groups):
        fit_stream_heads(model, x[train], y[train], [groups[i] for i in train],
                         HeadSearch(model.head.out_features, grid, seed),
                         list(zip(model.streams, model.blocks, strict=True)))
        with torch.inference_mode():
            predicted[held] = model.logits(torch.from_numpy(x[held])).argmax(1).numpy()
    return float(f1_score(y, predicted, average="macro"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--streams", nargs="+", default=["flow"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    p = args.project
    params = load_params(p / "params.yaml")
    clips = usable_clips(p / "artifacts/manifest.csv", p / "artifacts/frames",
                         p / "reports/validation.json")
    classes = sorted({c.label for c in clips})
    y = np.array([classes.index(c.label) for c in clips])
    groups = [c.group for c in clips]
    model = FeatureLinear(len(classes), tuple(args.streams), params.model.backbone.name,
                          params.model.backbone.frames)
    rows = clip_rows(model, clips, p / params.train.feature_cache)
    x = np.stack([model.pooled(r) for r in rows])
    scores = [cv_macro_f1(model, x, y, groups, list(params.model.heads.c), seed)
              for seed in range(args.seeds)]
    print(f"{p.name}: {len(clips)} clips, {len(set(groups))} groups, "
          f"extract.num_frames {params.extract.num_frames}, streams {'+'.join(args.streams)}: "
          f"group-CV macro F1 {np.mean(scores):.3f} (sd {np.std(scores):.3f} over "
          f"{args.seeds} fold assignments)")


if __name__ == "__main__":
    main()
