"""Deterministic, group-aware train/val/test assignment."""

from __future__ import annotations

import hashlib

from vidops.manifest import Split


def split_of(group: str, val_fraction: float, test_fraction: float, salt: str,
             pinned: dict[str, str] | None = None) -> Split:
    """The split of every clip in ``group``.

    A pure function of the group name (not of the dataset), so adding clips never moves
    an existing clip to another split and one group never spans two splits. ``pinned``
    maps group names to splits and wins over the hash (leave-one-person-out, say).
    """
    if pinned and group in pinned:
        split = pinned[group]
        if split not in ("train", "val", "test"):
            raise ValueError(f"group {group!r} is pinned to unknown split {split!r}")
        return split  # type: ignore[return-value]
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise ValueError(f"bad split fractions val={val_fraction} test={test_fraction}")
    digest = hashlib.sha256(f"{salt}:{group}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"
