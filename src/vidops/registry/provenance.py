"""Where a model came from: code commit, data version and params, as MLflow tags."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml

from vidops.code_identity import code_digest, library_versions


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


def provenance_tags(root: Path) -> dict[str, str]:
    return {"git_commit": git_commit(root), "data_version": data_version(root),
            "params_hash": params_hash(root), "code_digest": code_digest()}


PROVENANCE = ("git_commit", "data_version", "params_hash", "code_digest")


def environment_tags(torch_threads: int) -> dict[str, str]:
    """Library versions, CPU and thread count: what a figure is reproducible against.

    The same machine and versions give identical metrics; another CPU (other SIMD kernels
    in torch, OpenCV and BLAS) may move float results in the last digits, and with them a
    borderline prediction. ``torch_threads``: from the caller that runs torch (this
    package does not import it).
    """
    import os
    import platform

    tags = {"env.python": platform.python_version(), "env.platform": platform.platform(),
            "env.cpu": _cpu_name(), "env.cpu_count": str(os.cpu_count()),
            "env.torch_threads": str(torch_threads)}
    tags.update({f"env.{name}": found for name, found in library_versions().items()})
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
