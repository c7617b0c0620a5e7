"""Test-split macro F1 and wall time of every architecture and of ``auto``, through real DVC.

    python benchmarks/quality.py [--udacity ../shared/data/udacity_ps7] [--archs auto flow_linear ...]

For each dataset a throwaway git + DVC project is made from this repository's files,
the clips are imported with ``vidops import``, the dataset's params are written, and
for each architecture ``dvc repro train`` then ``dvc repro evaluate`` run (ingest,
extract and validate once, then train + evaluate per architecture, each timed). The
feature cache is emptied before each architecture, so every wall time is a cold one.
The figures are read back from ``reports/metrics.json`` and
``reports/model_selection.json``; nothing is re-implemented.

Datasets:
- demo: the embedded synthetic set (``vidops synth``), default params.
- udacity: ../shared/data/udacity_ps7 (3 actions x 3 people x 3 trials), person as group,
  default params with only the split pinned: person 1 train, 2 val, 3 test.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UDACITY_PRESET = {"ingest": {"group_splits": {"1": "train", "2": "val", "3": "test"}}}


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def make_project(dest: Path, overrides: dict, source: Path = REPO) -> Path:
    """A fresh git repository holding ``source``'s tracked files (its tests left out)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=source, capture_output=True,
                           check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (source / name).is_file() and not name.startswith("tests/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, dest / name)
    set_params(dest, overrides)
    run(["git", "init", "-q", "-b", "main"], dest)
    return dest


def set_params(project: Path, overrides: dict) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def measure(project: Path, archs: list[str]) -> list[dict]:
    start = time.perf_counter()
    run(["dvc", "repro", "validate"], project)
    rows = [{"arch": "(ingest + extract + validate)", "seconds": time.perf_counter() - start}]
    for arch in archs:
        set_params(project, {"model": {"arch": arch}})
        shutil.rmtree(project / ".vidops" / "features", ignore_errors=True)
        start = time.perf_counter()
        run(["dvc", "repro", "train"], project)
        train_s = time.perf_counter() - start
        run(["dvc", "repro", "evaluate"], project)
        seconds = time.perf_counter() - start
        metrics = json.loads((project / "reports/metrics.json").read_text())
        selection = json.loads((project / "reports/model_selection.json").read_text())
        log = (project / "reports/train_log.csv").read_text().splitlines()
        rows.append({
            "arch": arch,
            "trained": selection["winner"],
            "cv": {c["arch"]: c["mean_f1"] for c in selection["candidates"]},
            "test_clips": metrics["n_clips"],
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "video_f1": metrics.get("video_level", {}).get("macro_f1"),
            "epochs": len(log) - 1,
            "train_s": train_s,
            "evaluate_s": seconds - train_s,
            "seconds": seconds,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(name: str, rows: list[dict]) -> str:
    lines = [f"### {name}", "",
             "| model.arch | trained | CV mean macro F1 (auto) | test macro F1 | accuracy | "
             "video-level F1 | epochs | train s | evaluate s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "macro_f1" not in r:
            lines.append(f"| {r['arch']} | | | | | | | {r['seconds']:.0f} (all three) | |")
            continue
        cv = ", ".join(f"{a} {f:.3f}" if f is not None else f"{a} skipped"
                       for a, f in r["cv"].items())
        video = f"{r['video_f1']:.3f}" if r["video_f1"] is not None else "-"
        lines.append(f"| {r['arch']} | {r['trained']} | {cv or '-'} | {r['macro_f1']:.3f} | "
                     f"{r['accuracy']:.3f} | {video} | {r['epochs']} | {r['train_s']:.0f} | "
                     f"{r['evaluate_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--udacity", type=Path, default=REPO.parent / "shared/data/udacity_ps7")
    parser.add_argument("--archs", nargs="+",
                        default=["auto", "motion_linear", "flow_linear", "appearance_linear",
                                 "fusion_linear"])
    parser.add_argument("--datasets", nargs="+", default=["udacity", "demo"])
    args = parser.parse_args()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each project keeps its own store
    out = []
    with tempfile.TemporaryDirectory(prefix="vidops-quality-") as tmp:
        for name in args.datasets:
            project = Path(tmp) / name
            project.mkdir()
            if name == "udacity":
                make_project(project, UDACITY_PRESET)
                run(["vidops", "import", str(args.udacity.resolve()), "--group-column", "person"],
                    project)
            else:
                make_project(project, {})
                run(["vidops", "synth", str(Path(tmp) / "demo-src")], project)
                run(["vidops", "import", str(Path(tmp) / "demo-src")], project)
            run(["git", "add", "-A"], project)
            run(["git", "commit", "-qm", "data"], project)
            out.append(table(name, measure(project, args.archs)))
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
