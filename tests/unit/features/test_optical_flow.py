"""Optical-flow descriptors describe the motion that is there: direction, rotation, scaling, none."""

import cv2
import numpy as np
import pytest

from vidops.features import optical_flow as flow

S = flow.FLOW_SIZE


def _textured(rng: np.random.Generator) -> np.ndarray:
    # Smooth random texture: flow needs something to track.
    noise = rng.uniform(0, 255, (S // 4, S // 4)).astype(np.float32)
    return cv2.resize(noise, (S, S), interpolation=cv2.INTER_CUBIC)


def _clip(transform, frames: int = 6) -> np.ndarray:
    """Frames of a textured disc moved by ``transform(t) -> 2x3 affine``, as RGB uint8."""
    rng = np.random.default_rng(0)
    base = _textured(rng)
    yy, xx = np.mgrid[0:S, 0:S]
    disc = ((xx - S / 2) ** 2 + (yy - S / 2) ** 2 < (S / 4) ** 2).astype(np.float32)
    out = []
    for t in range(frames):
        m = transform(t)
        obj = cv2.warpAffine(base * disc, m, (S, S))
        mask = cv2.warpAffine(disc, m, (S, S))
        frame = 128 * (1 - mask) + obj
        out.append(np.repeat(frame[..., None], 3, axis=2).clip(0, 255).astype(np.uint8))
    return np.stack(out)


def _stats(clip: np.ndarray, estimator: str = "dis") -> np.ndarray:
    """Mean over pairs of the whole-frame (cell 0) statistics of one estimator."""
    rows = flow.flow_descriptors(clip)
    per_est = rows.reshape(len(rows), len(flow.ESTIMATORS), flow.CELLS, flow.PER_CELL)
    return per_est[:, flow.ESTIMATORS.index(estimator), 0].mean(0)


def _rotation(degrees: float):
    return lambda t: cv2.getRotationMatrix2D((S / 2, S / 2), degrees * t, 1.0)


def _scaling(step: float):
    return lambda t: cv2.getRotationMatrix2D((S / 2, S / 2), 0, 1 + step * t)


def _shift(dx: float, dy: float):
    return lambda t: np.float32([[1, 0, dx * t], [0, 1, dy * t]])


HOF = slice(0, flow.BINS)
DIV, CURL, COHERENCE = 3 * flow.BINS, 3 * flow.BINS + 1, 3 * flow.BINS + 4


@pytest.mark.parametrize("estimator", flow.ESTIMATORS)
@pytest.mark.parametrize(("dx", "dy", "bin_"), [(2, 0, 0), (0, 2, 2), (-2, 0, 4), (0, -2, 6)])
def test_translation_votes_in_its_direction_and_is_coherent(estimator, dx, dy, bin_):
    stats = _stats(_clip(_shift(dx, dy)), estimator)
    hof = stats[HOF]
    assert hof.argmax() == bin_ and hof[bin_] > 0.6 * hof.sum()
    assert stats[COHERENCE] > 0.8


@pytest.mark.parametrize("estimator", flow.ESTIMATORS)
def test_rotation_shows_in_curl_and_scaling_in_divergence(estimator):
    spin, grow, slide = (_stats(_clip(m), estimator)
                         for m in (_rotation(4), _scaling(0.04), _shift(2, 0)))
    assert spin[CURL] > 2 * max(grow[CURL], slide[CURL])
    assert grow[DIV] > 2 * max(spin[DIV], slide[DIV])
    assert spin[COHERENCE] < 0.5 and grow[COHERENCE] < 0.5


def test_still_clip_has_no_motion_and_rows_have_the_documented_shape():
    still = _clip(_shift(0, 0), frames=5)
    rows = flow.flow_descriptors(still)
    assert rows.shape == (1, flow.DIM) and rows.dtype == np.float32  # its frames are all one
    assert np.abs(rows).max() < 1e-2
    moving = flow.flow_descriptors(_clip(_shift(2, 0), frames=5))
    assert moving.shape == (4, flow.DIM)


def test_a_stretched_clip_has_the_rows_of_the_clip_it_repeats():
    # extract.short_clip stretch repeats frames: a frame and its copy are no evidence of stillness
    clip = _clip(_shift(2, 1), frames=5)
    stretched = np.repeat(clip, [2, 1, 3, 1, 2], axis=0)
    np.testing.assert_array_equal(flow.flow_descriptors(stretched), flow.flow_descriptors(clip))


def test_one_frame_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"raise extract\.num_frames"):
        flow.flow_descriptors(np.zeros((1, 32, 32, 3), np.uint8))


@pytest.mark.parametrize("motion", [_shift(2, 1), _shift(-1, -2), _rotation(4)])
def test_the_descriptors_of_a_flipped_clip_are_a_permutation_of_the_clips(motion):
    clip = _clip(motion, frames=5)
    own = flow.flow_descriptors(clip)
    flipped = flow.flow_descriptors(np.ascontiguousarray(clip[:, :, ::-1]))
    derived = flow.mirror_descriptors(own)

    def gap(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.mean(0) - b.mean(0)).sum() / np.abs(b.mean(0)).sum())

    # Up to the estimators' numerics: far closer than the clip's own descriptors are.
    assert gap(derived, flipped) < 0.15
    assert gap(derived, flipped) < 0.25 * gap(own, flipped)
    assert np.array_equal(flow.mirror_descriptors(derived), own)  # flipping twice: the clip
