"""`vidops init`: a project of one's own whose stages depend on the installed code (#31)."""

import subprocess

import pytest
import yaml

from vidops.errors import VidopsError
from vidops.pipeline.new_project import checkout_root, init_project, project_dvc_yaml


def test_code_deps_become_the_installed_files_one_by_one(tmp_path):
    src = tmp_path / "src"
    (src / "vidops" / "data" / "__pycache__").mkdir(parents=True)
    for name in ("vidops/cli.py", "vidops/data/a.py", "vidops/data/b.py"):
        (src / name).write_text("")
    (src / "vidops/data/__pycache__/a.cpython-311.pyc").write_text("")
    template = ("stages:\n  s:\n    deps:\n      - data/raw\n      - src/vidops/cli.py\n"
                "      - src/vidops/data   # why this one\n")
    deps = yaml.safe_load(project_dvc_yaml(template, src))["stages"]["s"]["deps"]
    assert deps == ["data/raw", str(src / "vidops/cli.py"), str(src / "vidops/data/a.py"),
                    str(src / "vidops/data/b.py")]
    assert "# why this one" in project_dvc_yaml(template, src)
    with pytest.raises(VidopsError, match=r"gone\.py"):
        project_dvc_yaml("      - src/vidops/gone.py\n", src)


def test_init_makes_a_committed_project_with_every_stage_and_no_data(tmp_path):
    project = init_project(tmp_path / "mine").root
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    shipped = yaml.safe_load((checkout_root() / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(shipped)
    for name, stage in stages.items():
        code = [d for d in stage["deps"] if str(d).startswith("/")]
        assert code and all(p.endswith(".py") for p in code), name
    assert not (project / "data").exists()
    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True)
    assert "vidops init" in log.stdout
    clean = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                           text=True)
    assert clean.stdout == ""
    assert (project / ".dvc").is_dir()


def test_init_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("keep me")
    with pytest.raises(VidopsError, match="not an empty folder"):
        init_project(tmp_path / "theirs")
    assert [p.name for p in (tmp_path / "theirs").iterdir()] == ["notes.txt"]


def test_a_project_behind_the_installation_is_said_and_upgraded(tmp_path):
    """A project's dvc.yaml is a copy: after an upgrade of vidops its commands or code deps
    may differ (extract's --raw went away), so `vidops run` warns and `vidops upgrade`
    rewrites it; params.yaml is left as it is."""
    from vidops.pipeline.new_project import is_behind, upgrade_project

    project = init_project(tmp_path / "mine").root
    assert not is_behind(project) and not upgrade_project(project)
    old = (project / "dvc.yaml").read_text().replace(
        "vidops extract --manifest", "vidops extract --raw ${paths.raw} --manifest")
    (project / "dvc.yaml").write_text(old)
    (project / "params.yaml").write_text((project / "params.yaml").read_text() + "# mine\n")
    assert is_behind(project)
    assert upgrade_project(project) == ["dvc.yaml (stage commands and code deps)"]
    assert not is_behind(project)
    assert "--raw" not in (project / "dvc.yaml").read_text().split("extract:")[1].split("deps")[0]
    assert (project / "params.yaml").read_text().endswith("# mine\n")
    assert not is_behind(checkout_root())  # the checkout's dvc.yaml is the template
    with pytest.raises(VidopsError, match="is the template"):
        upgrade_project(checkout_root())


def test_upgrade_moves_the_keys_of_an_older_params_file_keeping_their_values(tmp_path):
    """A project of the release with a flat `model` section: `vidops run` refuses its
    params.yaml naming each moved key, and `vidops upgrade` moves them (values kept); the
    file is then this release's layout, and a second upgrade changes nothing."""
    from vidops.config import ConfigError, load_params
    from vidops.pipeline.new_project import upgrade_project

    project = init_project(tmp_path / "mine").root
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  pretrained_weights: \"\"",
                                                 "  pretrained_weights: \"\"\n  width: 8\n"
                                                 "  head_c: [0.5]\n  frame_diff: false\n"
                                                 "  motion_c: 0.3"))
    with pytest.raises(ConfigError, match=r"model\.width is now model\.cnn\.width"):
        load_params(params)
    assert upgrade_project(project) == ["params.yaml (model.width, model.frame_diff, "
                                        "model.head_c moved; model.motion_c dropped (gone from "
                                        "this vidops))"]
    model = load_params(params).model
    assert (model.cnn.width, model.heads.c, model.cnn.diff, model.video3d.diff) == (8, (0.5,), 0, 0)
    assert upgrade_project(project) == []
