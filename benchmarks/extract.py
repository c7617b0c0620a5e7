"""Frame extraction throughput against a full decode of the same files, in one run.

    python benchmarks/extract.py [--repeats 3] [--clips 20] [--incremental 200]

Generated set: ``--clips`` ten-second 320x240 clips at 25 fps, half H.264 in MP4 (x264
defaults: GOP 250, B-frames) and half MPEG-4 Part 2 in AVI, plus two 1280x720 H.264
clips. Sampling T=16 frames at 112x112, side by side on the same files:

- full decode (reference): every frame decoded by libavcodec on one thread, nothing
  converted; what ``ffmpeg -threads 1 -i X -f null -`` measures. The ffmpeg binary is
  not installed on these machines, so PyAV drives the same libavcodec directly.
- naive: OpenCV ``read()`` of every frame (decode + BGR conversion), picking afterwards.
- vidops opencv: the OpenCV sampler (a ``grab`` count pass, then ``grab``/``retrieve``).
- vidops pyav: the PyAV sampler (packets demuxed and compared with the container's
  count, then only the packets the 16 wanted frames depend on are decoded).

Repeats go round-robin over the methods, medians are reported. Then the stage itself:
1 vs 2 worker processes on the 10 s set and on the incremental set (``--incremental``
+ 10 two-second clips) with the parent's memory growth and the workers' peak memory,
and the incremental case (N clips extracted, 10 added, extracted again).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidops.config import ExtractConfig
from vidops.data.records import ClipRecord, write_records
from vidops.stages.extract import run_extract
from vidops.video.backend_opencv import sample_views as sample_views_opencv
from vidops.video.backend_pyav import sample_views as sample_views_av
from vidops.video.transforms import fit_square

T, SIZE, FPS = 16, 112, 25


def _frames(n: int, w: int, h: int, seed: int):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h + 64, w + 64, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (9, 9), 0)
    for i in range(n):  # a textured scene panning diagonally: real motion for the encoder
        frame = np.ascontiguousarray(base[i % 64 : i % 64 + h, (2 * i) % 64 : (2 * i) % 64 + w])
        cv2.circle(frame, (int(w / 2 + w / 3 * np.sin(i / 9)), h // 2), h // 8, (255, 255, 255), -1)
        yield frame


def write_h264(path: Path, seconds: float, w: int, h: int, seed: int) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in _frames(int(seconds * FPS), w, h, seed):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        out.mux(stream.encode())
    return path


def write_mpeg4_avi(path: Path, seconds: float, w: int, h: int, seed: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for frame in _frames(int(seconds * FPS), w, h, seed):
        writer.write(frame)
    writer.release()
    return path


def make_set(folder: Path, clips: int, seconds: float = 10.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(clips):
        if i % 2 == 0:
            files.append(write_h264(folder / f"h264_{i:03d}.mp4", seconds, 320, 240, i))
        else:
            files.append(write_mpeg4_avi(folder / f"mpeg4_{i:03d}.avi", seconds, 320, 240, i))
    return files


def full_decode(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        return sum(1 for _ in container.decode(stream))


def naive_opencv(path: Path, cfg: ExtractConfig) -> int:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    idx = np.linspace(0, len(frames) - 1, cfg.num_frames).round().astype(int)
    np.stack([fit_square(cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB), cfg.size, cfg.resize)
              for i in idx])
    return len(frames)


def _rss_mib() -> float:
    """Resident memory of this process now (Linux), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, files: list[Path], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in files:
            fn(f)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def manifest_for(files: list[Path], path: Path) -> Path:
    records = [ClipRecord(f"{i:016x}", f.as_posix(), "x", f"g{i}", "train", f"{i:064x}", 0)
               for i, f in enumerate(files)]
    write_records(path, records, ClipRecord)
    return path


def worker_memory(clips: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vidops-extract-mem-") as tmp:
        files = make_set(Path(tmp) / "clips", clips, seconds=2.0)
        stage = ExtractConfig(num_frames=T, size=SIZE, workers=2)
        run_extract(stage, manifest_for(files, Path(tmp) / "m.csv"), Path(tmp) / "f", progress=False)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{clips} clips, 2 workers: peak RSS of a worker process {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--incremental", type=int, default=200)
    parser.add_argument("--worker-memory", type=int, default=0,
                        help="only: peak memory of 2 workers extracting this many 2 s clips")
    parser.add_argument("--incremental-only", action="store_true",
                        help="only the incremental figures (adding 10 clips, nothing new)")
    args = parser.parse_args()
    if args.worker_memory:
        return worker_memory(args.worker_memory)
    if args.incremental_only:
        with tempfile.TemporaryDirectory(prefix="vidops-extract-") as tmp:
            many = make_set(Path(tmp) / "many", args.incremental + 10, seconds=2.0)
            return incremental(Path(tmp), many)
    cfg = ExtractConfig(num_frames=T, size=SIZE, resize="crop")
    with tempfile.TemporaryDirectory(prefix="vidops-extract-") as tmp:
        root = Path(tmp)
        small = make_set(root / "small", args.clips)
        large = [write_h264(root / f"hd_{i}.mp4", 10.0, 1280, 720, 100 + i) for i in range(2)]
        frames = sum(full_decode(f) for f in small)
        frames_hd = sum(full_decode(f) for f in large)
        print(f"set: {len(small)} x 10 s 320x240 ({frames} frames), 2 x 10 s 1280x720 "
              f"({frames_hd} frames); T={T}, {SIZE}x{SIZE}; median of {args.repeats}\n")
        sets = {"320x240 H.264 MP4": small[0::2], "320x240 MPEG-4 AVI": small[1::2],
                "1280x720 H.264 MP4": large}
        methods = {
            "full decode, 1 thread (reference)": full_decode,
            "naive: OpenCV read every frame": lambda f: naive_opencv(f, cfg),
            "vidops opencv sampler": lambda f: sample_views_opencv(f, cfg, [0.5]),
            "vidops pyav sampler": lambda f: sample_views_av(f, cfg, [0.5]),
        }
        # Round-robin over methods within each repeat: drift on a shared machine hits all alike.
        runs: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                for label, files in sets.items():
                    runs.setdefault((name, label), []).append(timed(fn, files, 1))
        median = {key: statistics.median(v) for key, v in runs.items()}
        ref = next(iter(methods))
        print("| method | " + " | ".join(f"{label}: s, / full decode" for label in sets) + " |")
        print("| --- |" + " --- |" * len(sets))
        for name in methods:
            cells = [f"{median[name, label]:.2f}, {median[name, label] / median[ref, label]:.2f}"
                     for label in sets]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        sent = {label: sum(sample_views_av(f, cfg, [0.5])[0].packets_decoded for f in files)
                / sum(full_decode(f) for f in files) for label, files in sets.items()}
        print("\npackets the pyav sampler sends to the decoder, share of all frames: "
              + ", ".join(f"{label} {share:.2f}" for label, share in sent.items()))

        many = make_set(root / "many", args.incremental + 10, seconds=2.0)
        print("\n| stage run (`run_extract`, pyav) | clips | workers | s | clips/s | parent RSS "
              "growth MiB |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, files in (("10 s 320x240", small), ("2 s 320x240", many)):
            for workers in (1, 2):
                out = root / f"frames_{len(files)}_w{workers}"
                stage = ExtractConfig(num_frames=T, size=SIZE, workers=workers)
                before = _rss_mib()
                start = time.perf_counter()
                res = run_extract(stage, manifest_for(files, root / "m.csv"), out, progress=False)
                took = time.perf_counter() - start
                print(f"| {label} | {res.clips} | {workers} | {took:.2f} | {res.clips / took:.1f} | "
                      f"{_rss_mib() - before:.1f} |", flush=True)
        # In a fresh interpreter each: this one's other children would blur the figure.
        for n in (20, 200):
            done = subprocess.run([sys.executable, __file__, "--worker-memory", str(n)],
                                  capture_output=True, text=True, check=True)
            print(f"\n{done.stdout.strip()}", end="")
        print()

        incremental(root, many)


def incremental(root: Path, many: list[Path]) -> None:
    """All but 10 clips, then all (10 new), then all again (nothing new): the reuse check
    (header, size and digest of every stored frame file) is the whole cost of the last run."""
    stage = ExtractConfig(num_frames=T, size=SIZE, workers=1)
    out = root / "frames_inc"
    start = time.perf_counter()
    first = run_extract(stage, manifest_for(many[:-10], root / "inc.csv"), out, progress=False)
    full_s = time.perf_counter() - start
    start = time.perf_counter()
    added = run_extract(stage, manifest_for(many, root / "inc.csv"), out, progress=False)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    again = run_extract(stage, manifest_for(many, root / "inc.csv"), out, progress=False)
    noop_s = time.perf_counter() - start
    print(f"\nincremental (2 s 320x240 clips, 1 worker): {first.decoded} clips in {full_s:.2f} s; "
          f"+10 clips: decoded {added.decoded}, reused {added.reused}, {add_s:.2f} s "
          f"= {add_s / full_s:.3f} of the full extraction; nothing new: decoded {again.decoded}, "
          f"checked and reused {again.reused}, {noop_s:.2f} s = {noop_s / full_s:.3f}")
    shutil.rmtree(root / "many")


if __name__ == "__main__":
    main()
