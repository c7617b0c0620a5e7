"""params.yaml written from the sections' own definitions (config.py).

Each default and its comment are written by hand once, where the section declares the field
(``num``/``opt`` with ``doc``). The repository's ``params.yaml`` and the one ``vidops init``
writes come from here; ``python -m vidops.params_file --check params.yaml`` (a test runs it)
fails when the file and the code disagree, ``--write`` brings the file up to date.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from vidops.config import Params, build_params, doc_of, move_old_keys, read_raw
from vidops.fileio import atomic_write_text

HEADER = """\
# One section per DVC stage (same names as dvc.yaml and src/vidops/stages/),
# plus `paths`, which dvc.yaml reads through templating so each path is written once.
# Written from the code (src/vidops/config.py: every default and its comment live there);
# a project's copy is its own to edit.
"""
COMMENT_COLUMN = 37  # comments start here, so the values read as one column
WIDTH = 100


def render(params: Params | None = None) -> str:
    """The text of params.yaml for ``params`` (default: the shipped defaults)."""
    params = params or Params()
    blocks = [HEADER.rstrip("\n")]
    for f in dataclasses.fields(params):
        section = getattr(params, f.name)
        blocks.append("\n".join(_section(f.name, section, indent="")))
    return "\n\n".join(blocks) + "\n"


def _section(name: str, section: Any, indent: str) -> list[str]:
    lines = _commented(f"{indent}{name}:", getattr(section, "DOC", ""))
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            lines += _section(f.name, value, indent + "  ")
        else:
            lines += _commented(f"{indent}  {f.name}: {_yaml(value)}", doc_of(f))
    return lines


def _commented(text: str, doc: str) -> list[str]:
    if not doc:
        return [text]
    wrapped = textwrap.wrap(doc, WIDTH - COMMENT_COLUMN - 2, break_on_hyphens=False)
    pad = " " * (COMMENT_COLUMN - 1 - len(text)) if len(text) < COMMENT_COLUMN - 1 else "  "
    first = f"{text}{pad}# {wrapped[0]}"
    return [first] + [" " * (COMMENT_COLUMN - 1) + f"# {more}" for more in wrapped[1:]]


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Path):
        value = value.as_posix()
    if isinstance(value, str):
        # Plain where YAML reads the text back as the same string, quoted otherwise.
        plain = value and yaml.safe_load(value) == value and value.strip() == value
        return value if plain and ":" not in value and "#" not in value else json.dumps(value)
    return repr(value)


def upgrade(path: Path) -> list[str]:
    """Move the keys of an older params.yaml to where this release reads them
    (``config.MOVED``), values kept, and write the file again from the code; the old names
    moved (none: the file is left as it is). The values are checked before anything is
    written."""
    moved, found = move_old_keys(read_raw(path))
    if found:
        atomic_write_text(path, render(build_params(moved, path)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="params.yaml from the code's defaults")
    parser.add_argument("path", type=Path, nargs="?", default=Path("params.yaml"))
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--check", action="store_true", help="exit 1 when the file differs")
    what.add_argument("--write", action="store_true", help="write the file")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.path.write_text(text, encoding="utf-8")
        return 0
    if args.path.read_text(encoding="utf-8") != text:
        print(f"{args.path} differs from the defaults in src/vidops/config.py: run "
              f"`python -m vidops.params_file --write {args.path}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
