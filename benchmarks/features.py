"""Per-clip features (flow + backbone) against the previous release, in one run.

    python benchmarks/features.py [--clips 64] [--repeats 3] [--release REV]

``fusion_linear``'s two streams (optical flow, EfficientNet-Lite0 on 8 of 16 frames) for
``--clips`` clips of 16 frames at 160x160 (the shipped params), into an empty feature cache,
each run in a fresh Python process, round-robin, medians:

- release: ``--release`` (default: the commit before the executor seam) from a `git
  worktree`: every clip in the training process, torch on all cores;
- here: this tree's default: below 20 clips in the process, else a local pool of one
  single-threaded process per core (the bytes then do not depend on the core count).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from release import RELEASE, release_env

RUN = """
import json, sys, time
from pathlib import Path
from vidops.config import ModelConfig
from vidops.data.clips import UsableClip
from vidops.models.factory import build_model
from vidops.training.clip_features import clip_rows
frames = sorted(Path(sys.argv[1]).glob("*.npy"))
clips = [UsableClip(f.stem, "", "x", f.stem, "train", f) for f in frames]
model = build_model(ModelConfig(arch="fusion_linear"), 4)
start = time.perf_counter()
rows = clip_rows(model, clips, Path(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - start, "clips": len(rows)}))
"""


def run(frames: Path, cache: Path, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", RUN, str(frames), str(cache)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--release", default=RELEASE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "frames").mkdir()
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (16, 192, 192, 3), dtype=np.uint8)
        for i in range(args.clips):  # a textured scene moving a few pixels a frame
            shift = [np.roll(base[t], (2 * t + i % 5, t), (0, 1))[:160, :160] for t in range(16)]
            np.save(root / "frames" / f"c{i:04d}.npy", np.stack(shift))
        with release_env(args.release, root / "release") as release:
            envs = {"release": release, "here": {**os.environ, "VIDOPS_DASK_ADDRESS": "local"}}
            times: dict[str, list[float]] = {name: [] for name in envs}
            for repeat in range(args.repeats):
                for name, env in envs.items():
                    times[name].append(run(root / "frames", root / f"cache-{name}-{repeat}", env))
                    print(f"  {name} run {repeat + 1}: {times[name][-1]:.2f} s", flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{args.clips} clips, flow + backbone, {args.repeats} repeats, {os.cpu_count()} cores:")
    for name, seconds in medians.items():
        print(f"  {name:8s} {seconds:7.2f} s  {args.clips / seconds:6.2f} clips/s")
    print(f"  here / release time: {medians['here'] / medians['release']:.3f}")


if __name__ == "__main__":
    main()
