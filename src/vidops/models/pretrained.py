"""``model.pretrained_weights``: start a neural model from a local state dict.

Accepted: a state dict saved from a vidops model (``artifacts/model/model.pt``), a
torchvision video model's own state dict (``torch.save(r3d_18(weights=...).state_dict())``)
or a checkpoint holding one under ``state_dict`` or ``model``. The classifier head is
left at its random start when its shape differs (another class count); any other
difference is an error that names the keys, because a silently half-loaded backbone
trains worse than a random one and nobody notices.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vidops.features.weights import PretrainedError, read_state_dict

log = logging.getLogger(__name__)



def load_pretrained(model: nn.Module, path: Path) -> list[str]:
    """Copy the file's weights into ``model``; returns the head keys left untouched."""
    state = read_state_dict(path)
    own = model.state_dict()
    state = {_own_name(k, own): v for k, v in state.items()}
    head = getattr(model, "head_prefix", "head.")
    unexpected = sorted(k for k in state if k not in own and not k.startswith(head))
    missing = sorted(k for k in own if k not in state and not k.startswith(head))
    if unexpected or missing:
        raise PretrainedError(
            f"{path}: does not fit this model.arch: {len(missing)} of the model's weights "
            f"missing (e.g. {missing[:3]}), {len(unexpected)} unknown in the file "
            f"(e.g. {unexpected[:3]}); was it saved from another architecture?")
    skipped, load = [], {}
    for key, tensor in state.items():
        if key not in own:
            skipped.append(key)
            continue
        target = own[key]
        if tensor.shape != target.shape:
            if key.startswith(head):
                skipped.append(key)
                continue
            tensor = _inflate_stem(key, tensor, target, path)
        load[key] = tensor
    model.load_state_dict(load, strict=False)
    if skipped:
        log.info("%s: classifier head %s not loaded (other class count); it starts random",
                 path, sorted(skipped))
    return sorted(skipped)



def _own_name(key: str, own: dict[str, torch.Tensor]) -> str:
    """A torchvision key (``stem.0.weight``, ``fc.weight``) as vidops names it."""
    key = key.removeprefix("module.")  # saved from a DistributedDataParallel wrapper
    if key in own:
        return key
    if key.startswith("fc.") and f"net.fc.1.{key[3:]}" in own:
        return f"net.fc.1.{key[3:]}"
    return f"net.{key}" if f"net.{key}" in own else key


def _inflate_stem(key: str, tensor: torch.Tensor, target: torch.Tensor, path: Path) -> torch.Tensor:
    """RGB weights into a first conv that also takes frame differences (zeros for those)."""
    if (tensor.dim() == target.dim() and tensor.shape[1] == 3 and target.shape[1] == 6
            and tensor.shape[0] == target.shape[0] and tensor.shape[2:] == target.shape[2:]):
        inflated = torch.zeros_like(target)
        inflated[:, :3] = tensor
        log.info("%s: %s has 3 input channels; frame-difference channels start at zero",
                 path, key)
        return inflated
    raise PretrainedError(f"{path}: {key} has shape {tuple(tensor.shape)} in the file but "
                          f"{tuple(target.shape)} in the model (another model.arch, width or frame_diff?)")
