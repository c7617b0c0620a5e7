"""DistributedDataParallel plumbing: who am I, and the few collectives training needs.

``torchrun`` (or ``train.processes > 1``, which relaunches ``vidops train`` under it)
sets RANK, LOCAL_RANK and WORLD_SIZE; without them everything here is a no-op for a
single process. Only rank 0 talks to MLflow and writes artifacts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

# Ranks other than 0 wait while rank 0 runs model selection (up to train.select_budget_s
# and one more fit): the default 30-minute collective timeout would kill them.
TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def from_env() -> DistEnv:
    """The process group torchrun describes, initialised once (gloo on CPU, NCCL on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)
    if env.active and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend, timeout=TIMEOUT)
    return env


def shutdown(env: DistEnv) -> None:
    if env.active and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(env: DistEnv, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not env.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(env: DistEnv, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sums over ranks (losses, counts)."""
    if not env.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
