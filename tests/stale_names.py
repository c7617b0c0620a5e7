"""Names the README, the docs and the docstrings use that must exist (#31: the README named
files that no longer existed, docstrings named modules long renamed).

Checked: repository paths (``src/...``, ``tests/...``, ``benchmarks/...``, ...), Python
files named by a path ending (``stages/register.py``, ``cache.py``), dotted modules and
attributes (``vidops.registry.gate``), and in code (backticks or fenced blocks) the
commands ``vidops CMD`` and ``make TARGET``.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP = ("src", "tests", "benchmarks", "scripts", "docs", "flows", "docker", ".ci")
_TOPS = "|".join(re.escape(t) for t in TOP)
_REPO_PATH = re.compile(rf"(?<![\w/.~$-])((?:{_TOPS})/[\w./-]*[\w/])")
_PY_FILE = re.compile(r"(?<![\w/.<$-])([\w/-]*\w\.py)\b")
# not a tag name such as vidops.champion.000001 or vidops.champion.*
_MODULE = re.compile(r"\bvidops(?:\.[A-Za-z_]\w*)+(?!\w)(?!\.\d|\.\*|\.<)")
_CODE_SPAN = re.compile(r"``?([^`\n]+)``?")
_FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)
_COMMAND = re.compile(r"(?:^|[\s;&|(])(vidops|make) ([a-z][\w-]*)")


@dataclass(frozen=True)
class Known:
    files: frozenset[str]  # tracked and untracked-not-ignored paths, relative to the repo
    commands: frozenset[str]
    targets: frozenset[str]

    @classmethod
    def of_this_repo(cls) -> Known:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, text=True, check=True).stdout
        files = {line for line in listed.splitlines() if (REPO / line).exists()}
        from typer.main import get_command

        from vidops.cli import app

        commands = set(get_command(app).commands)
        targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
        return cls(frozenset(files), frozenset(commands), frozenset(targets))

    def path_exists(self, path: str) -> bool:
        path = path.rstrip("/.")
        return path in self.files or any(f.startswith(path + "/") for f in self.files)

    def python_file_exists(self, ending: str) -> bool:
        return any(f == ending or f.endswith("/" + ending) for f in self.files)


def _module_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def stale_names(text: str, known: Known) -> list[str]:
    """The names in ``text`` (Markdown or a docstring) that do not exist, each once."""
    found: list[str] = []
    for path in _REPO_PATH.findall(text):
        if not known.path_exists(path):
            found.append(path)
    for ending in _PY_FILE.findall(text):
        if not ending.startswith(TOP) and not known.python_file_exists(ending):
            found.append(ending)
    for dotted in _MODULE.findall(text):
        if not _module_exists(dotted):
            found.append(dotted)
    fenced = [line.split("#")[0] for block in _FENCE.findall(text) for line in block.splitlines()]
    code = _CODE_SPAN.findall(_FENCE.sub("", text)) + fenced
    for snippet in code:
        for tool, name in _COMMAND.findall(snippet):
            if tool == "vidops" and name not in known.commands:
                found.append(f"vidops {name}")
            if tool == "make" and name not in known.targets:
                found.append(f"make {name}")
    return list(dict.fromkeys(found))


def documents() -> dict[str, str]:
    """Every text checked: the README, docs/*.md, each module's docstrings."""
    texts = {"README.md": (REPO / "README.md").read_text()}
    texts |= {str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "docs").glob("*.md"))}
    for module in sorted((REPO / "src" / "vidops").rglob("*.py")):
        tree = ast.parse(module.read_text())
        nodes = [tree] + [n for n in ast.walk(tree)
                          if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        docs = [ast.get_docstring(n) for n in nodes]
        texts[str(module.relative_to(REPO))] = "\n".join(d for d in docs if d)
    return texts
