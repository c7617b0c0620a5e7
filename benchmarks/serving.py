"""Serving latency for one 3-second 640x480 clip on the CPU, side by side with decoding.

    python benchmarks/serving.py [--repeats 15] [--port 5077] [--archs flow_linear fusion_linear]

Measured in one run, on the same clip:
  decode_all   OpenCV reads and converts every frame (the floor for any decoding server)
  sample       vidops' sampler: count frames by decoding, then grab/retrieve T frames
  pyfunc       the logged pyfunc in-process: bytes -> sample -> model -> probabilities
  http         POST base64 JSON to `mlflow models serve` on 127.0.0.1 and read the answer
Per architecture (default: flow_linear, what `auto` picks on the demo and on udacity_ps7,
and fusion_linear, the heaviest feature family: backbone + flow), with the default
params.yaml frame parameters and unfitted heads: latency does not depend on the head's
weights (the backbone's are the real ImageNet ones). Saved with the same models-from-code
path `register` uses.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

import vidops
from vidops.config import load_params
from vidops.data.synthetic import SynthSpec, render_clip, write_clip
from vidops.models.artifact import save_model_dir
from vidops.models.factory import build_model
from vidops.video.decode import sample_clip

ROOT = Path(__file__).resolve().parents[1]


def make_clip(folder: Path) -> Path:
    spec = SynthSpec(width=640, height=480, fps=30.0, min_frames=90, max_frames=90)
    path = folder / "clip_3s_640x480.mp4"
    write_clip(path, render_clip("spin", np.random.default_rng(7), spec), spec.fps)
    return path


def decode_all(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        n += 1
    cap.release()
    return n


def save_pyfunc(folder: Path, arch: str) -> Path:
    import dataclasses

    import mlflow.pyfunc

    params = load_params(ROOT / "params.yaml")
    model_cfg = dataclasses.replace(params.model, arch=arch)
    classes = ["pulse", "slide", "spin", "still"]
    model_dir = folder / f"model_dir_{arch}"
    save_model_dir(model_dir, build_model(model_cfg, len(classes)), model_cfg, params.extract,
                   classes, "benchmark")
    package = Path(vidops.__file__).parent
    out = folder / f"pyfunc_{arch}"
    mlflow.pyfunc.save_model(str(out), python_model=str(package / "serving_model.py"),
                             artifacts={"model_dir": str(model_dir)}, code_paths=[str(package)],
                             pip_requirements=["mlflow", "torch", "opencv-python-headless"])
    return out


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first calls pay for lazy imports and allocator growth
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def serve(model: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", str(model),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        # mlflow starts `uvicorn` by name: the virtual environment's bin must be on PATH
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError("mlflow models serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--archs", nargs="+", default=["flow_linear", "fusion_linear"])
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder)
        data = clip.read_bytes()
        cfg = load_params(ROOT / "params.yaml").extract
        frame = pd.DataFrame({"video": [data]})
        body = json.dumps({"dataframe_split": {"columns": ["video"],
                                               "data": [[base64.b64encode(data).decode()]]}}).encode()

        def http() -> None:
            request = urllib.request.Request(f"http://127.0.0.1:{args.port}/invocations", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                json.loads(response.read())

        results = {
            "decode_all (reference)": timed(lambda: decode_all(clip), args.repeats),
            "sample (vidops sampler)": timed(lambda: sample_clip(clip, cfg), args.repeats),
        }
        for arch in args.archs:
            saved = save_pyfunc(folder, arch)
            model = mlflow.pyfunc.load_model(str(saved))
            results[f"{arch}: pyfunc in-process"] = timed(lambda m=model: m.predict(frame),
                                                          args.repeats)
            server = serve(saved, args.port)
            try:
                results[f"{arch}: http (`mlflow models serve`)"] = timed(http, args.repeats)
            finally:
                os.killpg(server.pid, signal.SIGTERM)
    reference = statistics.median(results["decode_all (reference)"])
    print(f"clip: 3 s, 640x480, 30 fps, MPEG-4 Part 2, {len(data)} bytes; T={cfg.num_frames}, "
          f"size={cfg.size}; {args.repeats} repeats after a warm-up; python {sys.version.split()[0]}")
    print("| step | median ms | min ms | max ms | / decode_all |")
    print("| --- | --- | --- | --- | --- |")
    for name, times in results.items():
        ms = [t * 1000 for t in times]
        print(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} | "
              f"{statistics.median(times) / reference:.2f} |")


if __name__ == "__main__":
    main()
