"""Label names and clip ids: the identities everything else is keyed on."""

from __future__ import annotations

from vidops.errors import VidopsError

MAX_LABEL_LENGTH = 64


class LabelError(VidopsError, ValueError):
    """A label name that cannot be a folder under data/raw or a class name."""


def check_label(label: str, source: str) -> str:
    """Return ``label`` stripped, or raise naming ``source`` and the reason.

    Labels become folder names under data/raw, so anything that could escape that folder
    or confuse a shell or a CSV reader is refused rather than cleaned up silently.
    """
    name = label.strip()
    if not name:
        raise LabelError(f"{source}: empty label")
    if name in {".", ".."} or ".." in name:
        raise LabelError(f"{source}: label {label!r} contains '..'")
    if "/" in name or "\\" in name:
        raise LabelError(f"{source}: label {label!r} contains a path separator")
    if not name.isprintable() or any(c in name for c in ',"\t'):
        raise LabelError(f"{source}: label {label!r} has unprintable characters, a comma or a quote")
    if len(name) > MAX_LABEL_LENGTH:
        raise LabelError(f"{source}: label {label[:20]!r}... is longer than {MAX_LABEL_LENGTH}")
    return name



def clip_id(sha256: str) -> str:
    """The clip id: the first 16 hex digits of the sha256 of its bytes."""
    return sha256[:16]
