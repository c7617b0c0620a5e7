"""The previous release's code beside this tree, for benchmarks that compare them in one run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASE = "14b216d"  # the commit before the per-clip executor seam (issue 23)


@contextmanager
def release_env(rev: str, folder: Path) -> Iterator[dict[str, str]]:
    """The environment that runs ``rev``'s vidops (a `git worktree` in ``folder``, first on
    PYTHONPATH); work stays on this machine. The worktree is removed afterwards."""
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(folder), rev], cwd=REPO,
                   check=True)
    try:
        yield {**os.environ, "VIDOPS_DASK_ADDRESS": "local", "PYTHONPATH": str(folder / "src")}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO,
                       check=False)
