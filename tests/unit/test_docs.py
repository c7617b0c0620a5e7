"""The README and the docs: short, built strictly, and naming only what exists (#31)."""

import subprocess
import sys
from pathlib import Path

import pytest

from stale_names import REPO, Known, documents, stale_names


@pytest.fixture(scope="module")
def known() -> Known:
    return Known.of_this_repo()


def test_the_readme_is_read_in_five_minutes():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def test_the_docs_build_in_strict_mode(tmp_path):
    done = subprocess.run([Path(sys.executable).parent / "mkdocs", "build", "--strict",
                           "--site-dir", str(tmp_path / "site")], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "models" / "index.html").is_file()


def test_readme_docs_and_docstrings_name_only_what_exists(known):
    stale = {name: found for name, text in documents().items()
             if (found := stale_names(text, known))}
    assert stale == {}


def test_the_check_finds_each_kind_of_planted_name(known):
    planted = ("See src/vidops/stages/gone.py and benchmarks/NOTHING.md, `model_selection.py`, "
               "features/flow.py, vidops.registry.nothing and vidops.registry.gate.nothing;\n"
               "run `vidops frobnicate --x` or `make frobnicate`.\n\n```bash\nvidops jump\n```\n")
    assert stale_names(planted, known) == [
        "src/vidops/stages/gone.py", "benchmarks/NOTHING.md", "model_selection.py",
        "features/flow.py", "vidops.registry.nothing", "vidops.registry.gate.nothing",
        "vidops frobnicate", "make frobnicate", "vidops jump"]
    real = ("src/vidops/stages/register.py, `stages/train.py`, vidops.registry.gate, "
            "`vidops run`, `make demo`, benchmarks/RESULTS.md")
    assert stale_names(real, known) == []
