import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from vidops import params_file
from vidops.config import (
    ConfigError,
    ExtractConfig,
    ModelConfig,
    Params,
    TsnConfig,
    build,
    load_params,
    move_old_keys,
)

REPO = Path(__file__).resolve().parents[2]


def test_repo_params_load_into_every_section():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.register.model_name == "vidops-classifier"
    assert params.model.arch == "auto"
    assert params.model.candidates == ("fusion_linear", "motion_linear")


@pytest.mark.parametrize("section", ["paths", "ingest", "extract", "validate", "model", "train",
                                     "evaluate", "register"])
def test_repo_params_have_every_section(section):

    assert section in yaml.safe_load((REPO / "params.yaml").read_text())


def test_unknown_key_is_refused_with_its_name(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"params.yaml:train.*epocs"):
        load_params(path)


def test_unknown_section_is_refused(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("trian:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match="trian"):
        load_params(path)


@pytest.mark.parametrize("text, message", [
    ("train:\n  epochs: true\n", "expected int"),
    ("train:\n  epochs: '3'\n", "expected int"),
    ("train:\n  lr: fast\n", "expected float"),
    ("model:\n  arch: transformer\n", "not one of"),
    ("ingest:\n  extensions: .mp4\n", "expected a list"),
    ("model:\n  candidates: [motion_linear, transformer]\n", "not one of"),
    ("model:\n  arch: auto\n  candidates: []\n", "candidates is empty"),
    ("model:\n  cnn:\n    diff: -1\n", "model.cnn.diff"),
    ("model:\n  motion:\n    threshold: 2\n", "model.motion.threshold"),
    ("model:\n  heads:\n    c: []\n", "model.heads.c must be a non-empty list"),
    ("model:\n  video3d: 0.2\n", "model:video3d: expected a mapping"),
    ("extract:\n  stride: 0\n", "stride"),
])
def test_wrong_types_and_values_are_refused(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_int_is_accepted_for_float_and_missing_keys_take_defaults(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 1\n")
    params = load_params(path)
    assert params.train.lr == 1.0 and isinstance(params.train.lr, float)
    assert params.train.epochs == Params().train.epochs


def test_numeric_group_names_become_strings():
    cfg = build(Params, {"ingest": {"group_splits": {3: "test"}}}, "x")
    assert cfg.ingest.group_splits == {"3": "test"}


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        ExtractConfig().size = 3  # type: ignore[misc]


def test_missing_file_names_itself(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: not found"):
        load_params(tmp_path / "nope.yaml")


def test_auto_adds_the_gpu_candidates_only_on_cuda():
    cfg = ModelConfig(candidates=("flow_linear", "fusion_linear"))
    assert cfg.auto_candidates(cuda=False) == ("flow_linear", "fusion_linear")
    assert cfg.auto_candidates(cuda=True) == ("flow_linear", "fusion_linear", "appearance_tsn")
    listed = ModelConfig(candidates=("appearance_tsn", "flow_linear"))
    assert listed.auto_candidates(cuda=True) == ("appearance_tsn", "flow_linear")
    with pytest.raises(ConfigError, match=r"model\.tsn\.lr_scale"):
        ModelConfig(tsn=TsnConfig(lr_scale=0.0))


def test_params_yaml_is_the_one_written_from_the_code():
    """Each default and its comment are written once, in config.py; the shipped params.yaml
    is generated from there (`python -m vidops.params_file --write params.yaml`)."""
    assert params_file.main(["--check", str(REPO / "params.yaml")]) == 0
    assert load_params(REPO / "params.yaml") == Params()


def test_the_params_check_fails_on_a_changed_default_or_comment(tmp_path, capsys):
    """The check compares text: a value edited by hand, or a comment, is caught."""
    text = params_file.render()
    for edited in (text.replace("  epochs: 30", "  epochs: 31"),
                   text.replace("# early stop", "# stop early")):
        assert edited != text
        (tmp_path / "params.yaml").write_text(edited)
        assert params_file.main(["--check", str(tmp_path / "params.yaml")]) == 1
    assert "python -m vidops.params_file --write" in capsys.readouterr().err


def test_every_field_and_section_renders_and_reads_back(tmp_path):
    """Non-default values of every kind (lists, mappings, quoted strings, paths, nested
    sections) survive render -> load."""
    p = Params()
    changed = dataclasses.replace(
        p, paths=dataclasses.replace(p.paths, model=Path("/abs/my model")),
        ingest=dataclasses.replace(p.ingest, group_splits={"p 1": "test"}, split_salt="a: b # c"),
        model=dataclasses.replace(p.model, heads=dataclasses.replace(p.model.heads, c=(0.5, 2.0))),
        train=dataclasses.replace(p.train, select_budget_s=12.5,
                                  augment=dataclasses.replace(p.train.augment, flip=True)))
    (tmp_path / "params.yaml").write_text(params_file.render(changed))
    assert load_params(tmp_path / "params.yaml") == changed


@pytest.mark.parametrize("text, message", [
    ("register:\n  min_f1: 1.5\n", "register.min_f1 must be between 0 and 1, got 1.5"),
    ("extract:\n  num_frames: 0\n", "extract.num_frames must be between 1 and 1024, got 0"),
    ("train:\n  epochs: -1\n", "train.epochs must be between 1 and 100000, got -1"),
    ("train:\n  augment:\n    crop_scale: 2\n", "train.augment.crop_scale must be between"),
    # #30: each of these was accepted, and a stage then failed on it or misused it
    ("register:\n  min_f1: .nan\n", "register.min_f1 must be between 0 and 1, got nan"),
    ("train:\n  lr: .inf\n", "train.lr must be between"),
    ("model:\n  tsn:\n    dropout: 5\n", "model.tsn.dropout must be between 0 and 0.99, got 5.0"),
    ("evaluate:\n  batch_size: 0\n", "evaluate.batch_size must be between 1 and 4096, got 0"),
    ("extract:\n  size: 100000\n", "extract.size must be between 8 and 1024, got 100000"),
    ("validate:\n  min_fps: -3\n", "validate.min_fps must be >= 0, got -3.0"),
    ("model:\n  heads:\n    c: [0.1, .nan]\n", "model.heads.c must be between"),
])
def test_a_value_out_of_range_names_its_key_and_value_only(tmp_path, text, message):
    """#22: `min_f1: 1.5` was accepted (nothing could ever be promoted), and range errors
    listed every rule of the section instead of the one broken."""
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert str(err.value).count(" must ") == 1


@pytest.mark.parametrize("text, message", [
    ("validate:\n  min_fps: 30\n  max_fps: 10\n", "validate.min_fps (30.0) is above validate.max_fps"),
    ("ingest:\n  val_fraction: 0.5\n  test_fraction: 0.5\n", "ingest.val_fraction + ingest."),
])
def test_params_that_contradict_each_other_are_refused(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")):
        load_params(path)


def test_a_key_written_twice_is_an_error_naming_it_and_its_lines(tmp_path):
    """#30: YAML takes the last of two equal keys without a word."""
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 5\n  lr: 0.01\n  epochs: 50\n")
    with pytest.raises(ConfigError, match=r"train\.epochs is written twice \(lines 2 and 4\)"):
        load_params(path)
    path.write_text("train:\n  epochs: 5\ntrain:\n  lr: 0.01\n")
    with pytest.raises(ConfigError, match=r"train is written twice"):
        load_params(path)


def _numbers():
    from hypothesis import strategies as st

    return st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True))


def test_no_number_outside_its_stated_range_is_accepted():
    """Property (Hypothesis): whatever number goes into any numeric param, loading either
    refuses it with a ConfigError naming the key, or keeps it finite and in the range
    stated where the param is declared (config.num)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from vidops.config import build, ranges

    def walk(section, name):  # every section, the nested ones (model.heads, ...) too
        yield name, type(section)
        for f in dataclasses.fields(section):
            if dataclasses.is_dataclass(getattr(section, f.name)):
                yield from walk(getattr(section, f.name), f"{name}.{f.name}")

    sections = [s for f in dataclasses.fields(Params) for s in walk(getattr(Params(), f.name), f.name)]
    assert "model.cnn" in dict(sections) and "train.augment" in dict(sections)
    fields = [(name, cls, key, bounds) for name, cls in sections
              for key, bounds in ranges(cls).items()]
    assert len(fields) > 50  # every numeric param of every section is under test

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(fields), _numbers())
    def check(target, value):
        name, cls, key, (low, high) = target
        default = getattr(cls(), key)
        given_value = [value] if isinstance(default, tuple) else value
        try:
            built = build(cls, {key: given_value}, name)
        except ConfigError as err:
            assert key in str(err)
            return
        kept = getattr(built, key)
        for item in kept if isinstance(kept, tuple) else (kept,):
            assert math.isfinite(item)
            assert (low is None or item >= low) and (high is None or item <= high)

    check()


def test_a_bare_on_or_off_in_yaml_is_the_option_not_a_boolean(tmp_path):
    """YAML 1.1 reads `recipe_cv: off` (and DVC's `-S evaluate.recipe_cv=off`) as False."""
    path = tmp_path / "params.yaml"
    path.write_text("evaluate:\n  recipe_cv: off\nmodel:\n  heads:\n    mirror: on\ntrain:\n  amp: off\n")
    params = load_params(path)
    assert (params.evaluate.recipe_cv, params.model.heads.mirror, params.train.amp) == ("off", "on", "off")


OLD_MODEL_SECTION = """\
model:
  arch: cnn_lstm
  width: 8
  hidden: 32
  dropout: 0.3
  frame_diff: false
  diff_gap: 2
  motion_segments: 3
  motion_c: 0.5
  backbone: efficientnet_lite1
  backbone_frames: 4
  head_c: [0.1, 1.0]
register:
  max_video_bytes: 1000
"""


def test_keys_of_the_flat_model_section_are_refused_naming_where_each_went(tmp_path):
    """The `model` section was flat until each family got its own: a params.yaml of
    then is not read with the moved keys silently at their defaults."""
    path = tmp_path / "params.yaml"
    path.write_text(OLD_MODEL_SECTION)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    message = str(err.value)
    for said in ("model.width is now model.cnn.width",
                 "model.hidden is now model.cnn.hidden and model.temporal.hidden",
                 "model.backbone is now a section: model.backbone.name",
                 "model.head_c is now model.heads.c",
                 "model.motion_c is gone (motion_linear's strength is now chosen from "
                 "model.heads.c",
                 "register.max_video_bytes is now serve.max_video_bytes", "vidops upgrade"):
        assert said in message
    assert message.startswith(str(path))


def test_moving_the_old_keys_keeps_every_value_where_its_family_reads_it():
    moved, found = move_old_keys(yaml.safe_load(OLD_MODEL_SECTION))
    assert {"model.frame_diff", "model.backbone", "model.motion_c"} <= set(found)
    params = build(Params, moved, "moved")
    m = params.model
    assert (m.arch, m.cnn.width, m.cnn.hidden, m.temporal.hidden) == ("cnn_lstm", 8, 32, 32)
    assert {m.cnn.dropout, m.video3d.dropout, m.temporal.dropout, m.tsn.dropout} == {0.3}
    assert (m.cnn.diff, m.video3d.diff) == (0, 0)  # frame_diff: false beats diff_gap
    assert (m.motion.segments, m.backbone.name, m.backbone.frames) == (3, "efficientnet_lite1", 4)
    assert (m.heads.c, params.serve.max_video_bytes) == ((0.1, 1.0), 1000)
    assert move_old_keys({"model": {"diff_gap": 3, "frame_diff": True}})[0] == {
        "model": {"cnn": {"diff": 3}, "video3d": {"diff": 3}}}
    assert move_old_keys(yaml.safe_load(params_file.render(params))) == (
        yaml.safe_load(params_file.render(params)), [])
