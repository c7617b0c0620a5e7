"""The motion model's features and its scikit-learn head, checked against references."""

import cv2
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vidops.config import ExtractConfig, ModelConfig
from vidops.models.artifact import load_model_dir, save_model_dir
from vidops.models.factory import build_model
from vidops.models.linear_head import fit_linear_head
from vidops.models.motion import SIZE, MotionLinear, hog, hu_moments, motion_images


def moving_square(frames: int = 8, step: int = 6, size: int = SIZE) -> torch.Tensor:
    """``(1, T, S, S, 3)`` uint8: a white square moving right on grey."""
    clip = np.full((frames, size, size, 3), 90, np.uint8)
    for t in range(frames):
        clip[t, 24:36, 4 + step * t : 16 + step * t] = 255
    return torch.from_numpy(clip).unsqueeze(0)


def test_motion_images_follow_the_square():
    mhi, mei, early, late = motion_images(moving_square(), threshold=0.06, segments=2)[0]
    row = 30
    moved = mei[row].nonzero().flatten()
    assert moved.min() < 10 and moved.max() > 50  # the whole path, left to right
    assert mhi[row, moved.max()] > mhi[row, moved.min()]  # recent motion is brighter
    assert early[row, :20].sum() > 0 and early[row, 50:].sum() == 0  # segments keep the order
    assert late[row, 50:].sum() > 0 and late[row, :10].sum() == 0
    assert mei[:10].sum() == 0  # nothing moved at the top


def test_a_static_clip_has_no_motion():
    still = moving_square(step=0)
    assert motion_images(still, 0.06, 2).sum() == 0


def test_two_frames_needed():
    with pytest.raises(ValueError, match="at least 2 frames"):
        motion_images(moving_square(frames=1), 0.06, 2)


def test_hu_moments_match_opencv_and_ignore_position():
    rng = np.random.default_rng(0)
    img = np.zeros((SIZE, SIZE), np.float32)
    img[10:30, 20:28] = 1.0
    img[25:40, 18:45] = rng.random((15, 27)).astype(np.float32)
    ours = hu_moments(torch.from_numpy(img)[None])[0].numpy()
    hu = cv2.HuMoments(cv2.moments(img)).ravel()
    theirs = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3)
    shifted = hu_moments(torch.from_numpy(np.roll(img, (12, -9), axis=(0, 1)))[None])[0]
    np.testing.assert_allclose(shifted.numpy(), ours, rtol=1e-3, atol=1e-3)


def test_hog_puts_a_vertical_edge_in_the_horizontal_gradient_bin():
    img = torch.zeros(1, 32, 32)
    img[:, :, 16:] = 1.0
    blocks = hog(img).view(36, 3, 3)  # 4 cells x 9 bins per block, 3 x 3 blocks
    edge_block = blocks[:, 1, 1].view(4, 9)
    assert edge_block[:, 0].sum() > 0.99 * edge_block.sum()  # gradient along x: 0 degrees
    assert hog(torch.zeros(1, 32, 32)).abs().sum() == 0


def test_head_reproduces_scikit_learn_probabilities():
    rng = np.random.default_rng(1)
    model = MotionLinear(4, 0.06, 2)
    dim = model.head.in_features
    x = rng.normal(size=(40, dim)) * rng.uniform(0.01, 50, size=dim) + rng.normal(size=dim) * 100
    y = rng.choice([0, 1, 3], size=40)  # class 2 never seen in training
    fit_linear_head(model, x, y, 4, c=0.1, seed=0)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=20000, tol=1e-8))
    expected = reference.fit(x, y).predict_proba(x)
    with torch.no_grad():
        got = torch.softmax(model.head((torch.from_numpy(x).float() - model.mean) / model.scale), 1)
    np.testing.assert_allclose(got[:, [0, 1, 3]].numpy(), expected, atol=1e-4)
    assert got[:, 2].max() < 1e-6


def test_binary_head_matches_scikit_learn():
    rng = np.random.default_rng(2)
    model = MotionLinear(2, 0.06, 1)
    x = rng.normal(size=(30, model.head.in_features))
    y = (x[:, 0] > 0).astype(int)
    fit_linear_head(model, x, y, 2, c=1.0, seed=0)
    expected = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=20000, tol=1e-8)).fit(x, y)
    with torch.no_grad():
        got = torch.softmax(model.head((torch.from_numpy(x).float() - model.mean) / model.scale), 1)
    np.testing.assert_allclose(got.numpy(), expected.predict_proba(x), atol=1e-4)


def test_fitted_motion_model_round_trips_through_the_model_folder(tmp_path):
    cfg = ModelConfig(arch="motion_linear")
    model = build_model(cfg, 2)
    clips = torch.cat([moving_square(), moving_square(step=0), moving_square(step=3),
                       moving_square(step=0).flip(-2)])
    with torch.no_grad():
        feats = model.features(clips).double().numpy()
    fit_linear_head(model, feats, np.array([0, 1, 0, 1]), 2, c=0.1, seed=0)
    save_model_dir(tmp_path, model, cfg, ExtractConfig(num_frames=8, size=SIZE), ["moving", "still"],
                   "run")
    loaded = load_model_dir(tmp_path)
    probs = loaded.predict_proba(clips.numpy())
    assert probs.argmax(1).tolist() == [0, 1, 0, 1]
    with torch.no_grad():
        np.testing.assert_allclose(probs, torch.softmax(model(clips), 1).numpy(), atol=1e-6)
