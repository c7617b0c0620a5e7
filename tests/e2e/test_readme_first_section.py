"""#31: a user with a folder of labelled clips goes from a clean clone to a champion on
their data only, by the README's first section, run exactly as written (only the two
placeholders, the project folder under ``~`` and the clips folder, are the test's)."""

import json
import re
import sqlite3
import subprocess

import pytest
import yaml

from support import REPO

pytestmark = pytest.mark.slow


def _first_section_commands() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Your own data\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    return block


def test_the_readme_first_section_gives_a_champion_on_your_data_only(tmp_path):
    from vidops.data.synthetic import SynthSpec, write_dataset

    clips = tmp_path / "clips"
    # a folder per class; 10 a class is the fewest that gives every split 2 (validate's minimum)
    write_dataset(clips, SynthSpec(per_class=10, seed=7))
    commands = _first_section_commands()
    assert "vidops init ~/my-project" in commands and "/path/to/clips" in commands
    script = commands.replace("/path/to/clips", str(clips))
    home = tmp_path / "home"
    home.mkdir()
    env = {**__import__("os").environ, "HOME": str(home)}  # ~ is here: no git identity either
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    project = home / "my-project"

    # The run ended with the summary, and the model is champion.
    assert "== registry ==" in done.stdout
    assert "vidops-classifier v1: champion" in done.stdout
    # Only the user's clips: no demo data, no other class.
    raw = project / "data" / "raw"
    assert sorted(p.name for p in raw.iterdir() if p.is_dir()) == ["pulse", "slide", "spin", "still"]
    assert len(list(raw.rglob("*.mp4"))) == 40
    # The registry is the project's own and records the classes the model answers with.
    with sqlite3.connect(project / "mlruns" / "mlflow.db") as db:
        (classes,) = db.execute("select value from model_version_tags where key = 'classes'")\
            .fetchone()
        champion = db.execute("select version from registered_model_aliases "
                              "where alias = 'champion'").fetchall()
    assert json.loads(classes) == ["pulse", "slide", "spin", "still"] and champion == [(1,)]
    # A git project whose first commit is vidops init's; dvc.yaml's code is the installation's.
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, capture_output=True,
                         text=True).stdout
    assert log.strip().splitlines()[-1] == "vidops init"
    deps = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["train"]["deps"]
    assert str(REPO / "src" / "vidops" / "stages" / "train.py") in deps
    assert json.loads((project / "reports" / "scores.json").read_text())["macro_f1"] >= 0.6

    # "Commit what the run produced", as the README's next line writes it, leaves git clean.
    readme = (REPO / "README.md").read_text()
    (commit,) = re.findall(r"`(git add [^`]*&& git commit[^`]*)`", readme)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commit], cwd=project, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                            text=True).stdout
    assert status == "", status
