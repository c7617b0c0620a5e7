"""Serving memory against the number of videos in one request: chunked against all at once.

    python benchmarks/serving_memory.py [--clips 1 100 1000] [--arch motion_linear]

Each measurement is a fresh Python process that loads a vidops pyfunc (``VideoClassifier``
on a saved model folder with the default params.yaml frame parameters: 32 frames of
160 x 160, 2.4 MB per decoded clip), answers one request of N small real videos (2 to 3 KB
each, 24 frames of 64 x 48), and reports its peak resident memory (``ru_maxrss``) and the
time the request took. Side by side, in the same run:

  chunked   what vidops serves now: decoded and scored ``pyfunc.CHUNK`` videos at a time
  all       the release before: every video decoded first, then scored together
            (the same code with the chunk set larger than the request)

``serve.max_clips`` is raised for the measurement so the 1,000-video request is answered;
with the default limit it is refused before any video is decoded (last row).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, pathlib, resource, sys, time
from types import SimpleNamespace
import pandas as pd
from vidops.serving import pyfunc
folder, videos, n, mode, limit = sys.argv[1:6]
if mode == "all":
    pyfunc.CHUNK = 10 ** 9
model = pyfunc.VideoClassifier()
model.load_context(SimpleNamespace(artifacts={"model_dir": folder},
                                   model_config={"max_clips": int(limit)}))
files = sorted(pathlib.Path(videos).glob("*.avi"))
frame = pd.DataFrame({"video": [files[i % len(files)].read_bytes() for i in range(int(n))]})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    out = model.predict(None, frame)
    answered = int(out["label"].notna().sum())
    refused = ""
except Exception as err:  # the clip limit
    answered, refused = 0, str(err)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024, "seconds": seconds,
                  "answered": answered, "refused": refused}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--arch", default="motion_linear")
    args = parser.parse_args()

    import cv2
    import numpy as np

    from vidops.config import ModelConfig, ServeConfig, load_params
    from vidops.models.artifact import save_model_dir
    from vidops.models.factory import build_model

    repo = Path(__file__).resolve().parents[1]
    frames = load_params(repo / "params.yaml").extract
    with tempfile.TemporaryDirectory(prefix="vidops-serving-memory-") as tmp:
        folder, videos = Path(tmp) / "model", Path(tmp) / "videos"
        cfg = ModelConfig(arch=args.arch)
        save_model_dir(folder, build_model(cfg, 4), cfg, frames, ["a", "b", "c", "d"], "run")
        videos.mkdir()
        rng = np.random.default_rng(0)
        for k in range(8):
            writer = cv2.VideoWriter(str(videos / f"{k}.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                                     12.0, (64, 48))
            for t in range(24):
                frame = np.full((48, 64, 3), 40 + 5 * k, np.uint8)
                x = (2 * t + 7 * k) % 50
                frame[10:30, x:x + 14] = rng.integers(0, 255, 3, dtype=np.uint8)
                writer.write(frame)
            writer.release()
        sizes = [p.stat().st_size for p in videos.glob("*.avi")]
        print(f"{args.arch}, frames {frames.num_frames} x {frames.size} px; videos of "
              f"{min(sizes)}-{max(sizes)} bytes")
        print("| videos in the request | mode | peak RSS MB | over a 1-video request, MB | "
              "seconds | answered |")
        print("| --- | --- | --- | --- | --- | --- |")
        cases = [(n, mode, 10 ** 6) for n in args.clips for mode in ("chunked", "all")]
        cases.append((max(args.clips), "chunked", ServeConfig().max_clips))
        first: dict[str, float] = {}
        for n, mode, limit in cases:
            done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(videos), str(n),
                                   mode, str(limit)], capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            first.setdefault(mode, r["peak_mb"])
            what = (f"refused: {r['refused'][:60]}" if r["refused"] else str(r["answered"]))
            label = mode if limit > n else f"{mode}, default serve.max_clips {limit}"
            print(f"| {n} | {label} | {r['peak_mb']:.0f} | {r['peak_mb'] - first[mode]:+.0f} | "
                  f"{r['seconds']:.1f} | {what} |", flush=True)


if __name__ == "__main__":
    main()
