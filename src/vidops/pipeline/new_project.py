"""`vidops init DIR`: a project of the user's own (git, DVC, params, pipeline), no data in it.

The project shares the installed vidops: its stages run the `vidops` and `dvc` commands of
the environment that made it. What the project gets is what a user edits or versions:
``params.yaml`` written from the code's defaults (params_file.py), and from vidops's own
checkout ``dvc.yaml``, ``prefect.yaml`` and the flow entrypoint. Its ``dvc.yaml`` names
the code each stage runs by absolute path, file by file, so that an upgrade of vidops
re-runs exactly the stages whose code changed, as it does in the checkout (DVC's
``.dvcignore`` does not reach outside the project, so a folder dep would also hash the
``__pycache__`` Python writes beside the sources).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vidops import params_file
from vidops.config import REMOVED
from vidops.errors import VidopsError
from vidops.fileio import atomic_write_text

# The files of a project that vidops's checkout is itself; copied as they are, except
# dvc.yaml (its code deps are rewritten).
COPIED = ("prefect.yaml", "flows/pipeline.py", ".dvcignore")  # params.yaml: from the code
GITIGNORE = """\
# Made by the pipeline (DVC also writes .gitignore files beside the outputs it caches).
/mlruns/
/artifacts/
/.vidops/
/dvc_plots/
.vidops.lock
__pycache__/
# Reports are remade by every run; git keeps the headline figures (dvc exp show, dvc
# metrics diff compare commits by them), MLflow keeps the rest with each run.
/reports/*
!/reports/scores.json
"""
_CODE_DEP = re.compile(r"^(?P<indent>\s*)- src/(?P<path>vidops\S*)\s*(?P<comment>#.*)?$")


@dataclass(frozen=True)
class NewProject:
    root: Path
    code: Path  # the vidops sources its stages depend on


def checkout_root() -> Path:
    """The vidops checkout this installation runs from (its project files are the template)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "dvc.yaml").is_file() or not (root / "params.yaml").is_file():
        raise VidopsError(f"{root}: no dvc.yaml/params.yaml beside the vidops sources; "
                          "vidops init needs vidops installed from its checkout (make install)")
    return root


def project_dvc_yaml(template: str, src: Path) -> str:
    """``dvc.yaml`` of the checkout with each code dep ``src/vidops/...`` made absolute; a
    folder becomes the Python files under it, sorted."""
    out = []
    for line in template.splitlines():
        match = _CODE_DEP.match(line)
        if not match:
            out.append(line)
            continue
        target = src / match["path"]
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        if not files or not all(f.is_file() for f in files):
            raise VidopsError(f"dvc.yaml names {target}, which is not in this installation")
        if match["comment"]:
            out.append(f"{match['indent']}{match['comment']}")
        out += [f"{match['indent']}- {f}" for f in files]
    return "\n".join(out) + "\n"


def init_project(dest: Path) -> NewProject:
    """Make ``dest`` a fresh vidops project, committed once; refuses a folder with files in it."""
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise VidopsError(f"{dest}: already exists and is not an empty folder; "
                          "vidops init makes a new project")
    root = checkout_root()
    src = root / "src"
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, dest / name)
    (dest / "dvc.yaml").write_text(expected_dvc_yaml())
    (dest / "params.yaml").write_text(params_file.render())
    (dest / ".gitignore").write_text(GITIGNORE)
    _run(["git", "init", "-q", "-b", "main"], dest)
    _run(["dvc", "init", "-q"], dest)
    _run(["git", "add", "-A"], dest)
    _run(["git", *_identity(dest), "commit", "-q", "-m", "vidops init"], dest)
    return NewProject(dest, src)


def _identity(dest: Path) -> list[str]:
    """The first commit needs an author; where git has none configured (a fresh machine,
    a container) it is made as "vidops init", and the user's own commits are theirs."""
    known = subprocess.run(["git", "config", "user.email"], cwd=dest, capture_output=True)
    if known.returncode == 0 and known.stdout.strip():
        return []
    return ["-c", "user.name=vidops init", "-c", "user.email=vidops-init@localhost"]


def expected_dvc_yaml() -> str:
    """The dvc.yaml this installation writes into a project."""
    root = checkout_root()
    return project_dvc_yaml((root / "dvc.yaml").read_text(), root / "src")


def is_behind(project: Path) -> bool:
    """Whether ``project`` (made by `vidops init`) has a dvc.yaml another vidops wrote. The
    checkout itself, whose dvc.yaml is the template, never is."""
    project = project.resolve()
    try:
        if project == checkout_root() or not (project / "dvc.yaml").is_file():
            return False
        return (project / "dvc.yaml").read_text() != expected_dvc_yaml()
    except VidopsError:  # installed without its checkout: nothing to compare with
        return False


def upgrade_project(project: Path) -> list[str]:
    """Bring ``project`` to this installation: dvc.yaml rewritten from it, and the keys of
    params.yaml that moved since moved (values kept). What changed, by file."""
    project = project.resolve()
    if project == checkout_root():
        raise VidopsError(f"{project}: the vidops checkout's own dvc.yaml is the template; "
                          "run `vidops upgrade` in a project made by `vidops init`")
    if not (project / "dvc.yaml").is_file() or not (project / "params.yaml").is_file():
        raise VidopsError(f"{project}: no dvc.yaml and params.yaml here; not a vidops project")
    changed = []
    found = params_file.upgrade(project / "params.yaml")
    moved = [key for key in found if key not in REMOVED]
    dropped = [key for key in found if key in REMOVED]
    if found:
        said = ([f"{', '.join(moved)} moved"] if moved else []) + (
            [f"{', '.join(dropped)} dropped (gone from this vidops)"] if dropped else [])
        changed.append(f"params.yaml ({'; '.join(said)})")
    expected = expected_dvc_yaml()
    if (project / "dvc.yaml").read_text() != expected:
        atomic_write_text(project / "dvc.yaml", expected)
        changed.append("dvc.yaml (stage commands and code deps)")
    return changed


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise VidopsError(f"{cwd}: `{' '.join(command)}` failed: "
                          f"{(done.stderr or done.stdout).strip()[-400:]}")
