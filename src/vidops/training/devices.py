"""Where training runs and how: device, mixed precision, DataLoader sizing."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from vidops.config import TrainConfig
from vidops.errors import VidopsError


class DeviceError(VidopsError, RuntimeError):
    """The configured device or precision is not available on this machine."""


@dataclass(frozen=True)
class TrainingDevice:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None: full fp32
    workers: int  # DataLoader processes

    @property
    def needs_scaler(self) -> bool:
        # fp16's 5-bit exponent underflows small gradients; bf16 has fp32's range.
        return self.amp_dtype == torch.float16

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return "cpu"

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "fp32")


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise DeviceError("train.device is 'cuda' but no CUDA device is available")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def training_device(cfg: TrainConfig, local_rank: int = 0, world_size: int = 1) -> TrainingDevice:
    device = pick_device(cfg.device, local_rank)
    return TrainingDevice(device, _amp_dtype(cfg.amp, device), _workers(cfg.num_workers, device,
                                                                        world_size))


def _amp_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    if choice == "off" or (choice == "auto" and device.type == "cpu"):
        # The CPU autocast path is slower than fp32 on CPUs without AMX/AVX512-BF16.
        return None
    if device.type == "cpu":
        if choice == "fp16":
            raise DeviceError("train.amp fp16 needs CUDA (its grad scaler); use bf16 or off")
        return torch.bfloat16
    if choice == "fp16" or (choice == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def _workers(requested: int, device: torch.device, world_size: int) -> int:
    if requested >= 0:
        return requested
    if device.type == "cpu":
        # On the CPU the model needs every core; loading a small .npy in the training
        # process costs less than a loader process competing for them (benchmarks/train.py).
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, (cores or 2) // world_size - 1))
