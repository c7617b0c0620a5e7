"""Recipe cross-validation of several training recipes on one project, side by side.

    python benchmarks/recipe_cv.py PROJECT [--seeds 3] [--recipes fusion_linear flow_linear \\
        fusion_linear,motion_linear motion_linear,flow_linear,appearance_linear,fusion_linear]

PROJECT is a vidops project whose ``dvc repro validate`` has run. Each recipe is one
architecture, or several (comma-separated) for ``model.arch: auto`` among them; everything
else is the project's ``params.yaml``. Each is scored by vidops's own recipe
cross-validation (``evaluation/recipe_cv.py``: folds by group over all usable clips, the
choice among candidates and every head's strength made inside each fold) with ``--seeds``
fold assignments (``train.seed`` 0, 1, ...), so the recipes are compared on the same folds.
Per recipe: mean and spread of the pooled out-of-fold macro F1 and the median seconds per
cross-validation (features come from the project's cache: the first recipe computes
the clips that train did not).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import time
import warnings
from pathlib import Path

from vidops.config import load_params
from vidops.data.clips import usable_clips
from vidops.evaluation.recipe_cv import Recipe, run_recipe_cv

DEFAULT_RECIPES = ["fusion_linear,motion_linear", "fusion_linear", "flow_linear",
                   "motion_linear,flow_linear,appearance_linear,fusion_linear"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.basicConfig(level=logging.WARNING)
    p = args.project
    params = load_params(p / "params.yaml")
    clips = usable_clips(p / params.paths.manifest, p / params.paths.frames,
                         p / params.paths.validation)
    evaluate = dataclasses.replace(params.evaluate, recipe_cv="on")
    print(f"{p.name}: {len(clips)} clips, {len({c.group for c in clips})} groups, "
          f"{evaluate.recipe_cv_folds} folds, {args.seeds} fold assignments")
    print("| recipe | recipe-CV macro F1, mean (sd) | per assignment | seconds per CV (median) |")
    print("| --- | --- | --- | --- |")
    for recipe in args.recipes:
        archs = tuple(recipe.split(","))
        model = dataclasses.replace(params.model, arch="auto" if len(archs) > 1 else archs[0],
                                    candidates=archs)
        f1s, seconds = [], []
        for seed in range(args.seeds):
            train = dataclasses.replace(params.train, seed=seed)
            start = time.perf_counter()
            cv = run_recipe_cv(evaluate, Recipe(model, train), clips, p / params.train.feature_cache)
            seconds.append(time.perf_counter() - start)
            f1s.append(cv.macro_f1)
        name = f"auto among {', '.join(archs)}" if len(archs) > 1 else archs[0]
        spread = statistics.pstdev(f1s) if len(f1s) > 1 else 0.0
        print(f"| {name} | {statistics.mean(f1s):.3f} ({spread:.3f}) | "
              f"{', '.join(f'{f:.3f}' for f in f1s)} | {statistics.median(seconds):.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
