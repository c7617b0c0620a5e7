"""Reading a local weights file: the only way pretrained weights enter vidops (no hub).

Shared by the backbone (features/appearance.py) and ``model.pretrained_weights`` for the
neural architectures (models/pretrained.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vidops.errors import VidopsError


class PretrainedError(VidopsError, ValueError):
    """The weights file is missing, unreadable or does not fit the configured model."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedError(f"{path}: model.pretrained_weights file not found")
    if path.stat().st_size == 0:
        raise PretrainedError(f"{path}: empty file (0 bytes)")
    try:
        # weights_only: tensors and plain containers, never arbitrary pickled objects.
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise PretrainedError(f"{path}: not a PyTorch weights file ({type(err).__name__}: "
                              f"{str(err).strip()[:200]})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise PretrainedError(f"{path}: expected a state dict (names -> tensors), "
                              f"got {type(obj).__name__}")
    return obj
