"""The default path, cold, on real and synthetic clips: this tree beside a previous release.

    python benchmarks/default_path.py [--datasets demo udacity ut_set1] [--release f691f3d]
        [--sides release this]

What a new user does, per dataset and per side: a throwaway git + DVC project made from
that side's files (its own shipped ``params.yaml``), ``vidops import`` of the clips with no
options, then ``dvc repro`` (all six stages) with an empty feature cache, timed. The
figures are read back from the project's ``reports/metrics.json`` and
``reports/model_selection.json``: the architecture ``auto`` chose, the test-split macro F1
with its interval, the recipe cross-validation (``cv_macro_f1``, where the side has it).
Both sides run in this one process on this machine, one after the other, so their wall
times compare; the release side runs its own code (a `git worktree`, first on PYTHONPATH).

Datasets: ``demo`` (``vidops synth``, as ``make demo``), ``udacity`` (../shared/data/
udacity_ps7: its labels.csv has no group column, so every clip is its own group),
``ut_set1`` (../shared/data/ut_set1: sequences as groups).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quality import REPO, make_project, run
from release import release_env

RELEASE_BEFORE_29 = "f691f3d"  # the last commit before issue 29 (T=16, four candidates for auto)
SHARED = REPO.parent / "shared" / "data"


def default_path(project: Path, clips: Path, env: dict[str, str]) -> dict:
    """``vidops import`` then ``dvc repro``, timed; the figures the project reports."""
    done = subprocess.run(["vidops", "import", str(clips)], cwd=project, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"vidops import failed in {project}:\n{done.stderr[-3000:]}")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "data"], project)
    start = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"dvc repro failed in {project}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    metrics = json.loads((project / "reports/metrics.json").read_text())
    selection = json.loads((project / "reports/model_selection.json").read_text())
    cv = metrics.get("recipe_cv") or {}
    return {"seconds": seconds, "winner": selection["winner"], "test_clips": metrics["n_clips"],
            "macro_f1": metrics["macro_f1"], "macro_f1_ci": metrics["macro_f1_ci"],
            "cv_macro_f1": cv.get("macro_f1"), "cv_macro_f1_ci": cv.get("macro_f1_ci")}


def clips_of(name: str, tmp: Path, env: dict[str, str]) -> Path:
    if name == "demo":
        out = tmp / "demo-src"
        if not out.exists():
            subprocess.run(["vidops", "synth", str(out)], env=env, check=True,
                           capture_output=True)
        return out
    return SHARED / {"udacity": "udacity_ps7", "ut_set1": "ut_set1"}[name]


def row(name: str, side: str, r: dict) -> str:
    ci = "[{:.2f}, {:.2f}]".format(*r["macro_f1_ci"])
    cv = ("{:.3f} [{:.2f}, {:.2f}]".format(r["cv_macro_f1"], *r["cv_macro_f1_ci"])
          if r["cv_macro_f1"] is not None else "-")
    return (f"| {name} | {side} | {r['seconds']:.0f} | {r['winner']} | {r['macro_f1']:.3f} {ci} "
            f"({r['test_clips']} clips) | {cv} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["demo", "udacity", "ut_set1"])
    parser.add_argument("--release", default=RELEASE_BEFORE_29)
    parser.add_argument("--sides", nargs="+", default=["release", "this"])
    args = parser.parse_args()
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each project keeps its own store
    lines = ["| dataset | side | wall s (dvc repro, cold) | auto chose | test macro F1 [95% CI] | "
             "recipe CV macro F1 [95% CI] |", "| --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory(prefix="vidops-default-path-") as tmp:
        for name in args.datasets:
            for side in args.sides:
                project = Path(tmp) / f"{name}-{side}"
                project.mkdir()
                if side == "release":
                    with release_env(args.release, Path(tmp) / "release") as env:
                        make_project(project, {}, Path(tmp) / "release")
                        result = default_path(project, clips_of(name, Path(tmp), env), env)
                else:
                    env = dict(os.environ)
                    make_project(project, {})
                    result = default_path(project, clips_of(name, Path(tmp), env), env)
                lines.append(row(name, f"{args.release} (release before)"
                                 if side == "release" else "this tree", result))
                print(json.dumps({"dataset": name, "side": side, **result}), flush=True)
                shutil.rmtree(project, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
