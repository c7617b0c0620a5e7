"""Training throughput and data-wait fraction per architecture, through the real fit loop.

    python benchmarks/train.py [--clips 32] [--epochs 3] [--device auto] [--archs ...]

Clips are stored as the extract stage stores them (one ``(T, H, W, 3)`` uint8 ``.npy`` per
clip, T=8 at 64x64, the defaults) and read by the same DataLoader ``fitting.fit`` uses.
Each row is one ``fit`` of ``--epochs`` epochs with early stopping off; figures are the
median over the epochs after the first (the first pays for allocator and kernel set-up).
``data wait`` is the share of the training time the loop spent blocked on the next batch.

The loader-process rows compare ``train.num_workers`` 0 (what ``-1`` picks on the CPU)
with 2 for one architecture, in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from vidops.config import ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.training.devices import training_device
from vidops.training.fit import fit
from vidops.training.fit_data import FitData

CLASSES = ["a", "b", "c", "d"]
ARCHS = ["motion_linear", "cnn_pool", "cnn_lstm", "mc3_18", "r2plus1d_18", "r3d_18"]


def make_clips(folder: Path, n: int, t: int, size: int) -> list[UsableClip]:
    rng = np.random.default_rng(0)
    clips = []
    for i in range(n):
        path = folder / f"{i:04d}.npy"
        np.save(path, rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8))
        split = "val" if i % 4 == 0 else "train"
        clips.append(UsableClip(f"{i:04d}", str(path), CLASSES[i % 4], f"g{i}", split, path))
    return clips


def measure(arch: str, clips: list[UsableClip], train_cfg: TrainConfig) -> dict:
    hw = training_device(train_cfg)
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    result = fit(ModelConfig(arch=arch), train_cfg, FitData(train, val, CLASSES, val_held_out=True),
                 hw, progress=False)
    steady = result.history[1:] or result.history
    return {"arch": arch, "device": hw.name, "precision": hw.precision, "workers": hw.workers,
            "clips_per_s": statistics.median(s.clips_per_s for s in steady),
            "data_wait": statistics.median(s.data_wait for s in steady),
            "epochs": len(steady)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--archs", nargs="+", default=ARCHS)
    parser.add_argument("--workers-arch", default="cnn_lstm",
                        help="architecture of the loader-process comparison ('' to skip)")
    args = parser.parse_args()
    base = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                       patience=0)
    print(f"{args.clips} clips ({args.clips * 3 // 4} train), T={args.frames}, "
          f"{args.size}x{args.size}, batch {args.batch_size}, {args.epochs} epochs, "
          f"torch threads {torch.get_num_threads()}\n")
    print("| arch | device | precision | loader processes | clips/s | data wait |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="vidops-train-bench-") as tmp:
        clips = make_clips(Path(tmp), args.clips, args.frames, args.size)
        runs = [(arch, base) for arch in args.archs]
        if args.workers_arch:
            runs.append((args.workers_arch, dataclasses.replace(base, num_workers=2)))
        for arch, cfg in runs:
            row = measure(arch, clips, cfg)
            print(f"| {row['arch']} | {row['device']} | {row['precision']} | {row['workers']} | "
                  f"{row['clips_per_s']:.1f} | {100 * row['data_wait']:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
