"""Time the validate stage on a manifest and frame index of N clips (no videos needed).

    python benchmarks/validate.py [--clips 1000] [--repeats 3]

Side by side in one run: reading the two CSVs into pandas (the floor: any validation
reads them) and the whole `run_validate` (Great Expectations, both checkpoints, Data Docs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from vidops.config import ValidateConfig
from vidops.data.records import ClipRecord, FrameRecord, write_records
from vidops.stages.validate import run_validate


def make_tables(folder: Path, clips: int) -> tuple[Path, Path]:
    labels = ["walk", "run", "wave", "clap", "jump"]
    manifest, frames = [], []
    for i in range(clips):
        cid = f"{i:016x}"
        path = f"data/raw/{labels[i % 5]}/clip_{i}.mp4"
        split = ("train", "train", "train", "val", "test")[(i // 5) % 5]
        manifest.append(ClipRecord(cid, path, labels[i % 5], f"g{i // 5}", split, cid * 4, 1000 + i))
        frames.append(FrameRecord(cid, path, f"{cid}.npy", 90, 90, 30.0, 320, 240, 3.0, "h264",
                                  0.4, 0.02, ""))
    (folder / "frames").mkdir()
    write_records(folder / "manifest.csv", manifest, ClipRecord)
    write_records(folder / "frames" / "index.csv", frames, FrameRecord)
    return folder / "manifest.csv", folder / "frames"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import great_expectations  # noqa: F401  (import cost is paid once per process, not per run)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest, frames = make_tables(folder, args.clips)
        read, full = [], []
        for r in range(args.repeats):
            start = time.perf_counter()
            pd.read_csv(manifest), pd.read_csv(frames / "index.csv")
            read.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = run_validate(ValidateConfig(), manifest, frames, folder / f"v{r}.json",
                                  folder / f"docs{r}")
            full.append(time.perf_counter() - start)
            assert result.success, result.summary()
    read_s, full_s = statistics.median(read), statistics.median(full)
    print(f"clips: {args.clips}; repeats: {args.repeats} (median)")
    print("| step | median s |")
    print("| --- | --- |")
    print(f"| read manifest + index with pandas (floor) | {read_s:.3f} |")
    print(f"| run_validate: GX, 2 checkpoints, 17 rules, Data Docs | {full_s:.3f} |")


if __name__ == "__main__":
    main()
