"""The house rules of src/vidops, checked on the real import graph (grimp, as import-linter).

- every stage's ``deps`` in dvc.yaml cover every module the stage imports, so a change to
  code a stage runs makes ``dvc repro`` run it again;
- no import cycle between modules, function-level imports included (they still run);
- the import-linter contracts of pyproject.toml hold.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
STAGES = tuple(yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"])


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("vidops")


def module_file(module: str) -> Path:
    path = SRC / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def closure(graph: grimp.ImportGraph, module: str) -> set[str]:
    """``module``, what it imports transitively, and every package those live in (Python
    runs a package's ``__init__`` before any module of it)."""
    found = graph.find_upstream_modules(module) | {module}
    packages = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return found | packages


def code_deps(stage: str) -> list[Path]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    return [ROOT / d for d in spec["deps"] if isinstance(d, str) and d.startswith("src/")]


def uncovered(modules: set[str], deps: list[Path]) -> list[str]:
    return sorted(m for m in modules
                  if not any(module_file(m) == d or d in module_file(m).parents for d in deps))


@pytest.mark.parametrize("stage", STAGES)
def test_stage_deps_cover_every_module_the_stage_imports(graph, stage):
    # The stage runs as `vidops <stage>`: its module, plus the CLI module that calls it.
    modules = closure(graph, f"vidops.stages.{stage}") | closure(graph, "vidops.cli").intersection(
        {"vidops", "vidops.cli", "vidops.config", "vidops.errors", "vidops.architectures"})
    missing = uncovered(modules, code_deps(stage))
    assert not missing, f"dvc.yaml stage {stage} runs modules its deps miss: {missing}"


def test_the_check_fails_on_a_missing_dep(graph):
    """The closure check can fail: evaluate without its evaluation package is caught."""
    deps = [d for d in code_deps("evaluate") if d.name != "evaluation"]
    assert "vidops.evaluation.intervals" in uncovered(closure(graph, "vidops.stages.evaluate"), deps)


def find_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """A cycle of direct imports between modules (not counting a package's own __init__
    importing what it exports), or None."""
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        targets = graph.find_modules_directly_imported_by(module)
        edges[module] = {t for t in targets if not module.startswith(t + ".")
                         and not t.startswith(module + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle():
    cyclic = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b"):
        cyclic.add_module(name)
    cyclic.add_import(importer="pkg.a", imported="pkg.b")
    cyclic.add_import(importer="pkg.b", imported="pkg.a")
    assert find_cycle(cyclic) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


def test_metrics_and_promotion_json_are_read_only_through_their_dataclasses():
    """#32: metrics.json and promotion.json were read by string keys in six modules. Only
    evaluation/figures.py (TestFigures) and registry/decision.py (Decision) open them."""
    import re

    owners = {"evaluation/figures.py", "registry/decision.py"}
    package = Path(__file__).parents[2] / "src" / "vidops"
    opening = re.compile(r"json\.loads?\([^)]*(metric|promotion|scores)", re.I)
    keyed = re.compile(r"(metrics|promotion|figures|decision)\[[\"'](macro_f1|accuracy|version|"
                       r"promoted|reason|model_name|recipe_cv|scored|video_level)[\"']\]")
    offenders = []
    for module in sorted(package.rglob("*.py")):
        name = module.relative_to(package).as_posix()
        if name in owners:
            continue
        for number, line in enumerate(module.read_text().splitlines(), start=1):
            if opening.search(line) or keyed.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    # the writer composes the dict it hands to TestFigures.of: stages/evaluate.py only
    assert [o for o in offenders if not o.startswith("stages/evaluate.py")] == []


MAX_PARAMETERS = 8


def _wide_functions(source: str, where: str) -> list[str]:
    """Functions taking more than MAX_PARAMETERS parameters (self and cls not counted),
    except Typer commands (``@app.command``), whose signature is the command line."""
    import ast

    wide = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if any("command" in ast.unparse(d) for d in node.decorator_list):
            continue
        a = node.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        count = len(names) + bool(a.vararg) + bool(a.kwarg) - (names[:1] in (["self"], ["cls"]))
        if count > MAX_PARAMETERS:
            wide.append(f"{where}:{node.lineno} {node.name} ({count})")
    return wide


def test_no_function_takes_more_than_eight_parameters():
    """#32: `_train_main` took 17, `run_train` 13, `fit` 12: the stages take a StageContext,
    the fits a FitData / HeadJob."""
    wide = [w for path in sorted((SRC / "vidops").rglob("*.py"))
            for w in _wide_functions(path.read_text(), str(path.relative_to(ROOT)))]
    assert wide == []


def test_the_width_check_sees_a_wide_function_and_excuses_a_command():
    source = ("def f(a, b, c, d, e, f, g, h, i): pass\n"
              "class C:\n    def m(self, a, b, c, d, e, f, g, h): pass\n"
              "@app.command()\ndef cmd(a, b, c, d, e, f, g, h, i): pass\n")
    assert _wide_functions(source, "x.py") == ["x.py:1 f (9)"]
