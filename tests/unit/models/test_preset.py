"""#32: model.json is an inference preset owned by the code that reads it: a params rename
leaves every trained model loadable, and a newer format is refused by name."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from vidops.config import CnnConfig, ExtractConfig, ModelConfig
from vidops.errors import DataError
from vidops.models.artifact import load_model_dir, save_model_dir
from vidops.models.factory import build_model
from vidops.models.preset import FORMAT, preset_from_params, read_preset

FIXTURES = Path(__file__).parents[2] / "fixtures"
SRC = Path(__file__).parents[3] / "src"
CLASSES = ["pulse", "slide", "spin", "still"]


def _format0_folder(tmp_path: Path) -> Path:
    """artifacts/model/ as the release before the preset wrote it (tests/fixtures/README.md)."""
    with tarfile.open(FIXTURES / "model-format0-motion_linear.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "model-format0-motion_linear"


def test_a_folder_of_the_release_before_reads_as_a_preset(tmp_path):
    old = _format0_folder(tmp_path)
    assert "format" not in json.loads((old / "model.json").read_text())
    preset = read_preset(old / "model.json")
    assert (preset.arch, preset.classes, preset.format) == ("motion_linear", CLASSES, 0)
    assert preset.net == {"threshold": 0.06, "segments": 2}
    assert (preset.frames.num_frames, preset.frames.size) == (6, 32)
    loaded = load_model_dir(old)
    assert loaded.frames.num_frames == 6 and loaded.arch == "motion_linear"


def test_the_preset_holds_only_what_the_family_uses(tmp_path):
    preset = preset_from_params(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=8, diff=0)),
                                ExtractConfig(num_frames=6, size=32), CLASSES)
    assert preset.net == {"width": 8, "dropout": 0.2, "diff": None}
    save_model_dir(tmp_path, build_model(ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=8, diff=0)),
                                         4), ModelConfig(arch="cnn_pool", cnn=CnnConfig(width=8, diff=0)),
                   ExtractConfig(num_frames=6, size=32), CLASSES, "run")
    assert read_preset(tmp_path / "model.json") == preset
    assert "candidates" not in (tmp_path / "model.json").read_text()  # no params section


def test_a_newer_format_is_refused_by_name(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": FORMAT + 1, "arch": "motion_linear"}))
    with pytest.raises(DataError, match=rf"model.json: model preset format {FORMAT + 1} is newer "
                                        rf"than this vidops reads \(format {FORMAT}\)"):
        read_preset(path)
    path.write_text(json.dumps({"format": FORMAT, "arch": "motion_linear"}))
    with pytest.raises(DataError, match="incomplete or malformed"):
        read_preset(path)


RENAMED = """
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
import vidops
from vidops.config import ConfigError, load_params
assert vidops.__file__.startswith(sys.argv[1]), vidops.__file__
params = Path(sys.argv[2]) / "params.yaml"
params.write_text("model:\\n  motion:\\n    segments: 3\\n")
try:
    load_params(params)
    raise SystemExit("the copy still knows model.motion.segments: nothing was renamed")
except ConfigError:
    pass
from vidops.data.synthetic import SynthSpec, render_clip, write_clip
from vidops.models.artifact import load_model_dir
from vidops.serving.pyfunc import VideoClassifier
clip = Path(sys.argv[2]) / "clip.mp4"
spec = SynthSpec(width=64, height=48, min_frames=10, max_frames=14)
write_clip(clip, render_clip("spin", np.random.default_rng(0), spec), spec.fps)
for folder in sys.argv[3:]:
    loaded = load_model_dir(Path(folder))
    probs = loaded.predict_proba(np.zeros((2, 6, 32, 32, 3), np.uint8))
    assert probs.shape == (2, 4), probs.shape
    served = VideoClassifier()
    served.load_context(type("C", (), {"artifacts": {"model_dir": folder}})())
    answer = served.predict(None, pd.DataFrame({"video": [clip.read_bytes()]}))
    assert answer["error"][0] is None and answer["label"][0] in loaded.classes, answer
    print(folder, "served", answer["label"][0])
"""


def test_models_load_and_serve_after_a_model_param_is_renamed(tmp_path):
    """A copy of today's code with ``model.motion.segments`` renamed ``model.motion.parts``
    (its field and the one place that reads it; the preset's format-0 names are history and
    stay) loads and serves a folder of the release before the preset and one of today."""
    code = tmp_path / "code"
    shutil.copytree(SRC / "vidops", code / "vidops", ignore=shutil.ignore_patterns("__pycache__"))
    renames = {"vidops/config.py": ("    segments: int = num(", "    parts: int = num("),
               "vidops/models/factory.py": ("m.motion.segments", "m.motion.parts")}
    for module, (before, after) in renames.items():
        text = (code / module).read_text()
        assert text.count(before) == 1, module  # the field, and the one place that reads it
        (code / module).write_text(text.replace(before, after))
    today = tmp_path / "today"
    cfg = ModelConfig(arch="motion_linear")
    save_model_dir(today, build_model(cfg, 4), cfg, ExtractConfig(num_frames=6, size=32),
                   CLASSES, "run")
    folders = [_format0_folder(tmp_path), today]
    done = subprocess.run([sys.executable, "-c", RENAMED, str(code), str(tmp_path),
                           *map(str, folders)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(code), "PATH": str(Path(sys.executable).parent)},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(" served ") == 2
