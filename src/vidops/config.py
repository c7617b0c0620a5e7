"""Typed configuration: one frozen dataclass per stage, built from params.yaml in one place.

Unknown keys and wrong types are errors at load time, naming the file and the key, so a
typo in params.yaml (``trian.epochs``) fails loudly instead of silently using a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from vidops.architectures import ARCHITECTURES
from vidops.errors import VidopsError


class ConfigError(VidopsError, ValueError):
    """params.yaml is unreadable, has unknown keys, or has values of the wrong type."""


def _check_range(section: str, obj: object, **bounds: tuple[float | None, float | None]) -> None:
    """Each ``key=(low, high)`` (inclusive, None: open) checked on ``obj``; the error names the
    first key out of range, its value and the range, nothing else."""
    for key, (low, high) in bounds.items():
        value = getattr(obj, key)
        if (low is not None and value < low) or (high is not None and value > high):
            wanted = (f"between {low} and {high}" if low is not None and high is not None
                      else f">= {low}" if low is not None else f"<= {high}")
            raise ConfigError(f"{section}.{key} must be {wanted}, got {value!r}")


@dataclass(frozen=True)
class PathsConfig:
    raw: str = "data/raw"  # raw clips, data/raw/<label>/<file>, versioned by data.dvc
    manifest: str = "artifacts/manifest.csv"  # one row per clip (ingest)
    splits: str = "data/splits.csv"  # split ledger: group -> split, never changed once written
    frames: str = "artifacts/frames"  # <clip_id>.npy + index.csv (extract)
    validation: str = "reports/validation.json"  # validation summary + quarantine (validate)
    data_docs: str = "reports/data_docs"  # Great Expectations Data Docs (validate)
    model: str = "artifacts/model"  # model.pt, model.json, mlflow_run.json (train)
    train_log: str = "reports/train_log.csv"  # per-epoch figures (train)
    curves: str = "reports/training_curves.png"  # loss and F1 per epoch (train)
    metrics: str = "reports/metrics.json"  # test metrics, all of them (evaluate)
    scores: str = "reports/scores.json"  # the short flat set `dvc metrics show` prints (evaluate)
    confusion: str = "reports/confusion_matrix.png"  # confusion matrix picture (evaluate)
    predictions: str = "reports/predictions.csv"  # per-clip predictions (evaluate)
    promotion: str = "reports/promotion.json"  # gate decision (register)
    selection: str = "reports/model_selection.json"  # model.arch auto: candidates, fold scores
    selection_plot: str = "reports/model_selection.png"  # the same as a picture


@dataclass(frozen=True)
class IngestConfig:
    extensions: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg",
                                   ".mpeg")  # video files
    val_fraction: float = 0.2  # target share of every class's clips in val
    test_fraction: float = 0.2  # target share of every class's clips in test
    split_salt: str = "vidops"  # orders new groups for the ledger (recorded groups never move)
    group_splits: dict[str, str] = field(default_factory=dict)  # group -> split, beats the ledger


@dataclass(frozen=True)
class ExtractConfig:
    num_frames: int = 32  # T frames per clip (flow descriptors use the T - 1 consecutive pairs)
    sampling: Literal["uniform", "segment", "dense"] = "uniform"  # see video/sampling.py
    stride: int = 2  # dense: frames between two sampled ones
    short_clip: Literal["stretch", "repeat_last", "loop", "reject"] = "stretch"  # fewer frames than needed
    size: int = 160  # output frames are size x size pixels (the pretrained backbone sees them)
    resize: Literal["crop", "pad"] = "crop"  # crop: short side + centre crop; pad: letterbox
    decoder: Literal["auto", "pyav", "opencv"] = "auto"  # auto: PyAV, OpenCV when PyAV fails on a file
    workers: int = 0  # processes decoding clips in parallel; 0: one per CPU core (at most 8)
    train_views: int = 0  # extra temporally jittered views per clip for training (same decode pass)

    def __post_init__(self) -> None:
        _check_range("extract", self, num_frames=(1, None), size=(8, None), stride=(1, None),
                     workers=(0, None), train_views=(0, None))


@dataclass(frozen=True)
class ValidateConfig:
    expected_labels: tuple[str, ...] = ()  # the label set, when fixed; empty: any safe label
    min_clips_per_class: int = 2  # in every split, else the data fails
    min_decodable_fraction: float = 0.9  # below: the data fails; above: bad clips quarantined
    min_duration_s: float = 0.2  # shorter clips are quarantined
    max_duration_s: float = 600.0  # longer clips are quarantined
    min_frames: int = 2  # clips that decode to fewer frames are quarantined (no motion)
    min_fps: float = 1.0  # frame-rate bounds; outside: quarantined
    max_fps: float = 240.0
    min_side_px: int = 32  # resolution bounds on the short and the long side
    max_side_px: int = 1920
    min_decoded_ratio: float = 0.9  # decoded / header frame count; below: cut short, quarantined
    min_mean_intensity: float = 0.02  # darker clips are blank (0 = black), quarantined
    min_motion_energy: float = 0.0001  # less frame-to-frame change is a frozen clip, quarantined
    max_imbalance: float = 10.0  # largest / smallest class in a split; above: a warning
    metadata_leak_margin: float = 0.5  # warn when metadata alone scores this far from chance to 1


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "auto"  # a row of vidops.architectures, or auto: see candidates
    candidates: tuple[str, ...] = ("fusion_linear", "motion_linear")  # what auto chooses among
    # ... and, when training runs on CUDA, these too (after the others): fine-tuning the
    # backbone pays with a GPU and costs minutes per epoch on a CPU.
    gpu_candidates: tuple[str, ...] = ("appearance_tsn",)
    width: int = 16  # channels of the first conv block; doubles per block
    hidden: int = 64  # hidden units of cnn_lstm's LSTM and of fusion_temporal
    dropout: float = 0.2  # before the classifier head
    frame_diff: bool = True  # add frame-difference channels to every frame's RGB
    diff_gap: int = 1  # difference to the sampled frame this many steps earlier
    diff_scale: float = 1.0  # multiplies the differences (small motions of 1-2 grey levels)
    motion_threshold: float = 0.06  # motion_linear: grey-level change (0-1) that counts as motion
    motion_segments: int = 2  # motion_linear: motion-energy images of this many time segments
    motion_c: float = 0.1  # motion_linear: inverse L2 strength of the logistic regression
    backbone: Literal["efficientnet_lite0", "efficientnet_lite1",
                      "efficientnet_lite2"] = "efficientnet_lite0"  # ImageNet weights from a package
    backbone_frames: int = 8  # appearance: frames per clip through the backbone (its cost)
    backbone_lr_scale: float = 0.1  # appearance_tsn: the backbone's lr relative to train.lr
    # feature heads: the flow stream also trains on each clip's mirrored view (left-right flip)?
    # auto: where that lowers its held-out log loss inside the training clips | on | off
    mirror: Literal["auto", "on", "off"] = "auto"
    head_c: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)  # feature heads: inverse L2 strengths;
    # the one with the lowest held-out log loss (group CV inside train) is used
    pretrained_weights: str = ""  # local state dict to start from (never downloaded); "" = random

    def __post_init__(self) -> None:
        known = sorted(ARCHITECTURES)
        if self.arch != "auto" and self.arch not in ARCHITECTURES:
            raise ConfigError(f"model.arch: {self.arch!r} is not one of {['auto', *known]}")
        for key in ("candidates", "gpu_candidates"):
            unknown = [a for a in getattr(self, key) if a not in ARCHITECTURES]
            if unknown:
                raise ConfigError(f"model.{key}: {unknown} is not one of {known}")
        if self.pretrained_weights:
            self._check_pretrained()
        if not 0 < self.backbone_lr_scale <= 1:
            raise ConfigError(f"model.backbone_lr_scale must be in (0, 1], got {self.backbone_lr_scale}")
        if self.backbone_frames < 1 or not self.head_c or min(self.head_c) <= 0:
            raise ConfigError("model.backbone_frames must be >= 1 and model.head_c a non-empty "
                              "list of positive numbers")
        if self.diff_gap < 1:
            raise ConfigError(f"model.diff_gap must be at least 1, got {self.diff_gap}")
        if not 0 < self.motion_threshold < 1:
            raise ConfigError(f"model.motion_threshold must be in (0, 1), got {self.motion_threshold}")
        if self.motion_segments < 1 or self.motion_c <= 0:
            raise ConfigError("model.motion_segments must be >= 1 and model.motion_c > 0")
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
class AugmentConfig:
    """Training views only; evaluation and serving always see the deterministic view."""

    temporal_jitter: bool = True  # draw each epoch's view among extract.train_views (if > 0)
    crop_scale: float = 1.0  # random resized crop keeps at least this share of the area (1: off)
    flip: bool = False  # mirror left-right; only when a mirrored clip keeps its label
    color: float = 0.0  # brightness, contrast and saturation jitter strength (0: off)

    def __post_init__(self) -> None:
        _check_range("train.augment", self, crop_scale=(0.05, 1.0), color=(0.0, 0.99))


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30  # passes over the training split
    batch_size: int = 8  # clips per step
    lr: float = 5e-3  # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    seed: int = 0  # seeds torch, numpy and the data order
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present, else CPU
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 or fp16 on CUDA, off on CPU
    channels_last: bool = True  # 3D CNNs in NDHWC memory layout (tensor-core friendly)
    compile: bool = False  # torch.compile the model (minutes of compiling; pays off on long runs)
    num_workers: int = -1  # DataLoader processes; -1: sized from the machine (0 on the CPU)
    processes: int = 1  # DDP processes on this machine (torchrun); >1 relaunches under torchrun
    checkpoint_dir: str = ".vidops/checkpoints"  # one checkpoint per epoch, outside DVC's outputs
    feature_cache: str = ".vidops/features"  # per-clip features of the feature families (a cache)
    refit_on_val: bool = True  # feature families: after scoring val, refit the head on train + val
    resume: bool = True  # continue an interrupted training of the same params and data
    patience: int = 10  # stop after this many epochs without a better val macro F1 (0: never)
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0.1 cost 0.17 test F1 on the demo)
    cv_folds: int = 3  # model.arch auto: group-aware folds over train + val (fewer if fewer groups)
    select_budget_s: float = 1200.0  # model.arch auto: candidates after this many seconds are skipped
    experiment: str = "vidops"  # MLflow experiment that holds one run per training
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        _check_range("train", self, epochs=(1, None), batch_size=(1, None), processes=(1, None),
                     num_workers=(-1, None), lr=(0.0, None), weight_decay=(0.0, None),
                     patience=(0, None), label_smoothing=(0.0, 0.99), cv_folds=(2, None),
                     select_budget_s=(0.0, None))


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = 16  # clips per inference batch
    views: int = 3  # temporal views per test video for video-level figures (1: clip level only)
    # Recipe cross-validation (evaluation/recipe_cv.py): auto runs it when the recipe only
    # fits heads on per-clip features and the data has at most recipe_cv_max_clips clips.
    recipe_cv: Literal["auto", "on", "off"] = "auto"
    recipe_cv_folds: int = 5  # folds by group over all usable clips
    recipe_cv_max_clips: int = 3000  # auto: above this the test split alone is large enough

    def __post_init__(self) -> None:
        _check_range("evaluate", self, batch_size=(1, None), views=(1, None),
                     recipe_cv_folds=(2, None), recipe_cv_max_clips=(0, None))


@dataclass(frozen=True)
class RegisterConfig:
    model_name: str = "vidops-classifier"  # registered model in MLflow
    min_f1: float = 0.6  # never promote below this macro F1
    gate: Literal["paired", "paired_better", "point"] = "paired"  # see gate.py and the README
    min_delta: float = 0.05  # paired: tolerated loss (lower end of the difference > -min_delta);
    # point: the challenger must beat the re-scored champion's macro F1 by this much
    max_class_drop: float = 0.5  # refuse when a class's recall falls this far under the champion's
    promote_experiments: bool = False  # `dvc exp run` may move champion (false: it registers only)

    def __post_init__(self) -> None:
        # A macro F1 bar above 1 could never be met: nothing would ever be promoted.
        _check_range("register", self, min_f1=(0.0, 1.0), min_delta=(-1.0, 1.0),
                     max_class_drop=(0.0, 1.0))


@dataclass(frozen=True)
class ServeConfig:
    """What the served model enforces; logged into the pyfunc's model config by register."""

    max_video_bytes: int = 100 * 1024 * 1024  # a request's video larger than this is refused

    def __post_init__(self) -> None:
        if self.max_video_bytes < 1:
            raise ConfigError(f"serve.max_video_bytes must be >= 1, got {self.max_video_bytes}")


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


# Keys that moved to another section: an old params.yaml gets told where, not just "unknown".
MOVED = {("register", "max_video_bytes"): "serve.max_video_bytes"}


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read params.yaml into typed sections; a missing section takes its defaults."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: not found (run vidops from the project root)") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    for (section, key), now in MOVED.items():
        if key in (raw.get(section) or {}):
            raise ConfigError(f"{path}: {section}.{key} is now {now}; move it there")
    try:
        return build(Params, raw, where=str(path))
    except ConfigError as err:  # a range check inside a section: say which file it is in
        if str(err).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {err}") from None


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
