"""Feature families: what training fits on (cached rows) is what the model computes when served."""

import numpy as np
import pytest
import torch

from vidops.config import ExtractConfig, ModelConfig, TrainConfig
from vidops.data.clips import UsableClip
from vidops.models.artifact import load_model_dir, save_model_dir
from vidops.models.factory import build_model
from vidops.models.feature_linear import POOLS, pool_rows
from vidops.models.feature_temporal import resample_rows
from vidops.models.linear_head import block_weights, strength_path
from vidops.training.feature_heads import clip_features, fit_feature_head, fit_temporal_head


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
    assert pooled.tolist() == pytest.approx([1.0, np.sqrt(2), 1.5, 0.0, 0.0, 3.0])


@pytest.mark.parametrize("arch", ["flow_linear", "fusion_linear"])
def test_fitted_head_serves_what_it_was_fitted_on(tmp_path, clips, arch):
    cfg = ModelConfig(arch=arch, head_c=(0.1, 1.0))
    model = build_model(cfg, 2)
    train, val = clips[:9], clips[9:]
    result = fit_feature_head(model, cfg, TrainConfig(), train, val, ["moving", "still"],
                              tmp_path / "cache", progress=False, tracker=None)
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
    cfg = ModelConfig(arch="flow_linear", head_c=(1.0,))
    train, val = clips[:6], clips[6:]
    args = (cfg, TrainConfig(), train, val, ["moving", "still"], tmp_path / "c")
    refit_model, plain_model = build_model(cfg, 2), build_model(cfg, 2)
    refit = fit_feature_head(refit_model, *args, progress=False, tracker=None, refit=True)
    plain = fit_feature_head(plain_model, *args, progress=False, tracker=None, refit=False)
    assert refit.kept.val_f1 == plain.kept.val_f1  # val is scored before the refit
    assert not torch.equal(refit_model.head.weight, plain_model.head.weight)


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
    plot_curves([fit], tmp_path / "linear.png", path)
    plot_curves([fit], tmp_path / "epochs.png")
    assert (tmp_path / "linear.png").read_bytes() != (tmp_path / "epochs.png").read_bytes()


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
    cfg = ModelConfig(arch="fusion_temporal", hidden=16, dropout=0.0)
    model = build_model(cfg, 2)
    train, val = clips[:9], clips[9:]
    result = fit_temporal_head(model, TrainConfig(epochs=15, lr=0.01, batch_size=4), train, val,
                               ["moving", "still"], tmp_path / "cache", progress=False,
                               tracker=None, keep_best=True)
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
