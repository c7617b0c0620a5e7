"""Feature families: what training fits on (cached rows) is what the model computes when served."""

import dataclasses

import numpy as np
import pytest
import torch

from vidops.config import ExtractConfig, HeadsConfig, ModelConfig, TemporalConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.models.artifact import load_model_dir, save_model_dir
from vidops.models.factory import build_model
from vidops.models.feature_linear import POOLS, FeatureLinear, pool_rows
from vidops.models.feature_temporal import resample_rows
from vidops.models.linear_head import (
    HeadSearch,
    StreamHeads,
    block_weights,
    copy_into,
    fit_linear_head,
    fit_logistic,
    fit_stream_heads,
    fusion_weights,
    strength_path,
)
from vidops.training.clip_features import clip_features
from vidops.training.feature_heads import fit_feature_head, fit_temporal_head
from vidops.training.fit_data import FitData, HeadJob


def _clip(step: int, seed: int, frames: int = 6, size: int = 48) -> np.ndarray:
    """A textured square moving ``step`` pixels per frame to the right on a grey field."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    out = np.full((frames, size, size, 3), 120, np.uint8)
    for t in range(frames):
        x = 4 + step * t + int(rng.integers(0, 3))
        out[t, 18:30, x:x + 12] = texture
    return out


@pytest.fixture
def clips(tmp_path):
    """Six moving and six still clips in three groups, saved like extract's frame files."""
    made = []
    for i in range(12):
        moving = i % 2 == 0
        path = tmp_path / f"c{i}.npy"
        np.save(path, _clip(3 if moving else 0, seed=i))
        made.append(UsableClip(f"c{i}", str(path), "moving" if moving else "still",
                               f"g{i % 3}", "train", path))
    return made


def test_pooling_keeps_shape_for_short_clips_and_has_no_nan():
    for rows in (1, 2, 3, 7):
        pooled = pool_rows(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4))
        assert pooled.shape == (POOLS * 4,) and np.isfinite(pooled).all()
    pooled = pool_rows(np.array([[0.0], [0.0], [3.0]]))
    assert pooled.tolist() == pytest.approx([1.0, np.sqrt(2), 1.5])
    thirds = pool_rows(np.array([[0.0], [0.0], [3.0]]), segments=3)  # models saved before
    assert thirds.tolist() == pytest.approx([1.0, np.sqrt(2), 1.5, 0.0, 0.0, 3.0])


def test_a_feature_model_saved_with_temporal_thirds_still_loads_and_serves(tmp_path, clips):
    """Models saved before 2026-12-06 pooled thirds too (wider weights): the width says so."""
    cfg = ModelConfig(arch="flow_linear", heads=HeadsConfig(c=(0.1,)))
    old = FeatureLinear(2, ("flow",), cfg.backbone.name, cfg.backbone.frames, segments=3)
    x = clip_features(old, clips, tmp_path / "cache")
    fit_linear_head(old, x, np.array([c.label == "still" for c in clips], int), 2, 0.1, 0)
    save_model_dir(tmp_path / "model", old, cfg, ExtractConfig(num_frames=6, size=48),
                   ["moving", "still"], "run")
    loaded = load_model_dir(tmp_path / "model")
    assert loaded.model.segments == 3 and build_model(cfg, 2).segments == 0
    frames = np.stack([np.load(c.frames_file) for c in clips])
    with torch.inference_mode():
        expected = torch.softmax(old(torch.from_numpy(frames)), 1).numpy()
    np.testing.assert_allclose(loaded.predict_proba(frames), expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["flow_linear", "fusion_linear"])
def test_fitted_head_serves_what_it_was_fitted_on(tmp_path, clips, arch):
    cfg = ModelConfig(arch=arch, heads=HeadsConfig(c=(0.1, 1.0)))
    model = build_model(cfg, 2)
    train, val = clips[:9], clips[9:]
    result = fit_feature_head(model, HeadJob(cfg, TrainConfig(refit_on_val=False), FitData(
        train, val, ["moving", "still"], tmp_path / "cache"), torch.device("cpu")))
    assert result.kept.train_acc == 1.0
    frames = torch.from_numpy(np.stack([np.load(c.frames_file) for c in clips]))
    with torch.inference_mode():
        served = model(frames)  # decode-time path: rows computed from the frames now
        cached = model.logits(torch.from_numpy(clip_features(model, clips, tmp_path / "cache")))
    torch.testing.assert_close(served, cached, rtol=1e-4, atol=1e-4)
    assert served.argmax(1).tolist() == [0 if c.label == "moving" else 1 for c in clips]

    save_model_dir(tmp_path / "model", model, cfg, ExtractConfig(num_frames=6, size=48),
                   ["moving", "still"], "run")
    loaded = load_model_dir(tmp_path / "model")  # weights_only, backbone inside model.pt
    np.testing.assert_allclose(loaded.predict_proba(frames.numpy()),
                               torch.softmax(served, 1).numpy(), atol=1e-5)


def test_refit_uses_val_too_and_cv_folds_never_do(tmp_path, clips):
    cfg = ModelConfig(arch="flow_linear", heads=HeadsConfig(c=(1.0,)))
    train, val = clips[:6], clips[6:]
    data = FitData(train, val, ["moving", "still"], tmp_path / "c")
    refit_model, plain_model = build_model(cfg, 2), build_model(cfg, 2)
    refit = fit_feature_head(refit_model, HeadJob(cfg, TrainConfig(refit_on_val=True), data,
                                                  torch.device("cpu")))
    plain = fit_feature_head(plain_model, HeadJob(cfg, TrainConfig(refit_on_val=False), data,
                                                  torch.device("cpu")))
    held_model = build_model(cfg, 2)  # val as a fold's held-out part: never fitted on
    fit_feature_head(held_model, HeadJob(cfg, TrainConfig(refit_on_val=True),
                                         dataclasses.replace(data, val_held_out=True),
                                         torch.device("cpu")))
    assert torch.equal(held_model.head.weight, plain_model.head.weight)
    assert refit.kept.val_f1 == plain.kept.val_f1  # val is scored before the refit
    assert not torch.equal(refit_model.head.weight, plain_model.head.weight)


def test_motion_is_one_more_stream_of_the_one_linear_head_path(tmp_path, clips):
    """motion_linear had its own fit (a fixed C, no refit on val): it now goes through the
    feature heads' path, its strength chosen from model.heads.c by held-out log loss inside
    train, refitted on train + val, and serves what it was fitted on."""
    from vidops.training.clip_features import motion_features
    from vidops.training.fit import HEAD_FITS

    assert HEAD_FITS["motion"] is HEAD_FITS["features"] is fit_feature_head
    cfg = ModelConfig(arch="motion_linear", heads=HeadsConfig(c=(0.001, 10.0)))
    data = FitData(clips[:9], clips[9:], ["moving", "still"], tmp_path / "cache")
    cpu = torch.device("cpu")
    plain, refit = build_model(cfg, 2), build_model(cfg, 2)
    result = fit_feature_head(plain, HeadJob(cfg, TrainConfig(refit_on_val=False), data, cpu))
    (path,) = result.strength.paths
    assert result.strength.streams == ["motion"] and path.grid == [0.001, 10.0]
    assert all(len(losses) >= 2 for losses in path.fold_losses)  # chosen by CV, not fixed
    assert result.kept.train_acc == 1.0 and result.kept.val_f1 == 1.0
    fit_feature_head(refit, HeadJob(cfg, TrainConfig(refit_on_val=True), data, cpu))
    assert not torch.equal(refit.head.weight, plain.head.weight)  # val joined the fit
    frames = torch.from_numpy(np.stack([np.load(c.frames_file) for c in clips]))
    with torch.inference_mode():
        cached = plain.logits(torch.from_numpy(motion_features(plain, clips, cpu,
                                                               tmp_path / "cache")))
        torch.testing.assert_close(plain(frames), cached, rtol=1e-4, atol=1e-4)


def test_the_chosen_c_prefers_strong_regularisation_on_noise_and_weak_on_signal():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    groups = [f"g{i % 6}" for i in range(60)]
    noise = rng.normal(size=(60, 50))
    assert strength_path(noise, y, groups, [0.001, 100.0], seed=0).best == 0.001
    signal = noise.copy()
    signal[:, 0] += 6 * y
    assert strength_path(signal, y, groups, [0.001, 100.0], seed=0).best == 100.0
    assert strength_path(noise, y, groups, [0.5], seed=0).best == 0.5
    assert strength_path(noise, y, ["one"] * 60, [0.01, 0.1, 1.0], seed=0).best == 0.1  # no groups


def test_the_strength_path_is_what_the_linear_heads_training_curve_draws(tmp_path):
    from vidops.evaluation.plots import plot_curves
    from vidops.models.linear_head import strength_path
    from vidops.training.results import EpochStats

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    noise = rng.normal(size=(60, 50))
    path = strength_path(noise, y, [f"g{i % 6}" for i in range(60)], [0.001, 0.1, 100.0], seed=0)
    assert path.grid == [0.001, 0.1, 100.0] and all(len(f) == 3 for f in path.fold_losses)
    assert path.best == path.grid[int(np.argmin(path.mean_losses()))] == 0.001
    assert strength_path(noise, y, ["one"] * 60, [0.01, 0.1], seed=0).why  # says why not CV'd
    fit = EpochStats(1, 0.5, 0.9, 0.6, 0.8, 0.75, 0.0, 1.0, 60.0, 0.0)
    plot_curves([fit], tmp_path / "linear.png", StreamHeads(["flow"], [path], [1.0]))
    plot_curves([fit], tmp_path / "fused.png", StreamHeads(["flow", "appearance"], [path, path],
                                                          [0.7, 0.3]))
    plot_curves([fit], tmp_path / "epochs.png")
    drawn = {(tmp_path / f"{n}.png").read_bytes() for n in ("linear", "fused", "epochs")}
    assert len(drawn) == 3


def _two_streams(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Clips of 3 classes: 20 informative features, then 300 of pure noise (more than clips)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], 20)
    signal = rng.normal(size=(60, 20))
    signal[:, :3] += 2.5 * np.eye(3)[y]
    return np.hstack([signal, rng.normal(size=(60, 300))]), y, [f"g{i % 6}" for i in range(60)]


@pytest.mark.parametrize("order", ["signal first", "noise first"])
def test_late_fusion_puts_its_weight_on_the_stream_that_predicts(order):
    x, y, groups = _two_streams()
    blocks = [20, 300]
    if order == "noise first":
        x, blocks = np.hstack([x[:, 20:], x[:, :20]]), [300, 20]
    model = FeatureHeadStub(x.shape[1], 3)
    heads = fit_stream_heads(model, x, y, groups, HeadSearch(3, [0.01, 0.1, 1.0], 0),
                             list(zip(["a", "b"], blocks, strict=True)))
    signal_weight = heads.weights[0 if order == "signal first" else 1]
    assert signal_weight >= 0.8 and sum(heads.weights) == pytest.approx(1.0)
    fused = model.head(torch.from_numpy((x - model.mean.numpy()) / model.scale.numpy()).float())
    assert (fused.argmax(1).numpy() == y).mean() > 0.9


def test_a_fused_head_with_all_its_weight_on_one_stream_is_that_streams_head():
    x, y, groups = _two_streams(1)
    fused, alone = FeatureHeadStub(320, 3), FeatureHeadStub(20, 3)
    held = [np.log(np.full((60, 3), 1 / 3))] * 2
    assert fusion_weights(held, y) == [1.0, 0.0]  # a tie goes to the first stream
    heads = fit_stream_heads(fused, x, y, groups, HeadSearch(3, [0.1], 0), [("a", 20), ("b", 300)])
    assert heads.why.startswith("equal weights")  # one C: nothing held out to weigh by
    copy_into(fused, _weighted(fit_logistic(x[:, :20], y, 3, 0.1, 0), fit_logistic(x[:, 20:], y, 3, 0.1, 0)))
    fit_stream_heads(alone, x[:, :20], y, groups, HeadSearch(3, [0.1], 0), [("a", 20)])
    z = torch.from_numpy(x).float()
    torch.testing.assert_close(fused.head((z - fused.mean) / fused.scale),
                               alone.head((z[:, :20] - alone.mean) / alone.scale))


def _sided(task: str, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two classes; feature 0 is the side (mirroring negates it), feature 1 is side-free.
    "left or right": the class is the side. "side-free": the class is feature 1, and each
    clip happens to be on a random side (what mirrored views teach the head to ignore)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 16)
    x = rng.normal(size=(32, 10))
    if task == "left or right":
        x[:, 0] += np.where(y == 0, 1.5, -1.5)
    else:
        x[:, 0] += rng.choice([-2.0, 2.0], size=32)
        x[:, 1] += np.where(y == 0, 1.5, -1.5)
    return x, y, [f"g{i % 8}" for i in range(32)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("task", "kept"), [("left or right", False), ("side-free", True)])
def test_mirrored_views_are_kept_only_where_they_lower_the_held_out_loss(task, kept, seed):
    from vidops.models.linear_head import Extra

    x, y, groups = _sided(task, seed)
    mirror = x.copy()
    mirror[:, 0] *= -1  # a mirrored view: the side flips, the label stays
    extra = Extra(mirror, y, np.array(groups))
    search = HeadSearch(2, [0.01, 0.1, 1.0], 0)
    heads = fit_stream_heads(FeatureHeadStub(10, 2), x, y, groups, search, [("flow", 10)], [extra],
                             decide=True)
    assert heads.mirrored == [kept]
    forced = fit_stream_heads(FeatureHeadStub(10, 2), x, y, groups, search, [("flow", 10)], [extra])
    assert forced.mirrored == [True] and forced.metrics()["mirrored_views"] == 1.0


def _weighted(first, second):
    from vidops.models.linear_head import LinearFit

    return LinearFit(np.concatenate([first.mean, second.mean]),
                     np.concatenate([first.scale, second.scale]),
                     np.hstack([first.weight, 0 * second.weight]), first.bias)


def test_the_row_space_solve_finds_the_full_solves_optimum():
    from sklearn.linear_model import LogisticRegression

    x, y, _ = _two_streams(2)
    fast = fit_logistic(x, y, 3, 0.1, 0)  # 320 features, 60 clips: solved in their span
    z = (x - x.mean(0)) / x.std(0)
    full = LogisticRegression(C=0.1, max_iter=5000, tol=1e-8).fit(z, y)
    np.testing.assert_allclose(fast.weight, full.coef_, atol=2e-3)
    np.testing.assert_allclose(fast.log_proba(x), full.predict_log_proba(z), atol=2e-3)


class FeatureHeadStub(torch.nn.Module):
    """The buffers and layer a fitted head is copied into (as FeatureLinear has them)."""

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.head = torch.nn.Linear(dim, classes)


def test_block_weights_give_each_stream_the_first_streams_total_variance():
    weights = block_weights([10, 40])
    assert weights[:10].tolist() == [1.0] * 10 and weights[10:].tolist() == [2.0] * 40
    standardised = np.ones(50) / weights
    assert np.sum(standardised[:10] ** 2) == pytest.approx(np.sum(standardised[10:] ** 2))


def test_resampling_keeps_ends_and_interpolates_between():
    rows = np.arange(16, dtype=np.float32).reshape(16, 1)
    out = resample_rows(rows, 8)
    assert out.shape == (8, 1) and out[0, 0] == pytest.approx(0.5) and out[-1, 0] == pytest.approx(14.5)
    assert resample_rows(rows[:1], 8).tolist() == [[0.0]] * 8  # one row: repeated


def test_temporal_head_learns_and_serves_what_it_learnt(tmp_path, clips):
    cfg = ModelConfig(arch="fusion_temporal", temporal=TemporalConfig(hidden=16, dropout=0.0))
    model = build_model(cfg, 2)
    train, val = clips[:9], clips[9:]
    result = fit_temporal_head(model, HeadJob(
        cfg, TrainConfig(epochs=15, lr=0.01, batch_size=4),
        FitData(train, val, ["moving", "still"], tmp_path / "cache"), torch.device("cpu")))
    assert len(result.history) <= 15 and result.kept.val_f1 == max(s.val_f1 for s in result.history)
    assert result.history[-1].train_acc == 1.0
    frames = torch.from_numpy(np.stack([np.load(c.frames_file) for c in clips]))
    save_model_dir(tmp_path / "model", model, cfg, ExtractConfig(num_frames=6, size=48),
                   ["moving", "still"], "run")
    loaded = load_model_dir(tmp_path / "model")
    with torch.inference_mode():
        direct = torch.softmax(model(frames), 1).numpy()
    np.testing.assert_allclose(loaded.predict_proba(frames.numpy()), direct, atol=1e-5)
    assert direct[:9].argmax(1).tolist() == [0 if c.label == "moving" else 1 for c in train]


def test_a_strength_at_the_end_of_its_grid_says_a_value_beyond_may_be_better(caplog):
    """#31: a chosen C at the edge of model.heads.c gave no hint that the grid was too short."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 3)) + 4.0 * np.where(y == 0, 1, -1)[:, None]  # easy: weakest wins
    with caplog.at_level("INFO", logger="vidops.models.linear_head"):
        path = strength_path(x, y, [f"g{i % 8}" for i in range(40)], [0.01, 0.1, 1.0], 0)
    assert path.best == 1.0
    assert "C = 1 is at the high end of model.heads.c; a larger value may fit better" in caplog.text
