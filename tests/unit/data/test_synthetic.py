"""The embedded demo dataset: its shapes stand out in grey, where motion is read."""

import numpy as np
import pytest

from vidops.data.synthetic import CLASSES, MIN_GREY_CONTRAST, SynthSpec, _apart_in_grey, _scene
from vidops.video.transforms import LUMA

BGR_LUMA = np.array(LUMA[::-1])


@pytest.mark.parametrize("spec", [SynthSpec(), SynthSpec(width=64, height=48, seed=3)])
def test_every_shape_differs_in_grey_from_the_background_it_can_cross(spec):
    """10 of the 120 demo clips had a shape of the background's luminance (green on a
    magenta ramp): frame differences and dense optical flow, both on grey, saw no motion."""
    for class_index, _ in enumerate(CLASSES):
        for i in range(spec.per_class):
            scene = _scene(np.random.default_rng([spec.seed, class_index, i]), spec)
            background = scene.background[0].astype(float) @ BGR_LUMA
            shape = np.array(scene.colour, float) @ BGR_LUMA
            assert np.abs(background - shape).min() >= MIN_GREY_CONTRAST - 0.5, (class_index, i)


def test_a_colour_already_apart_is_kept_and_one_too_close_moves_to_the_nearer_side():
    ramp = np.broadcast_to(np.linspace(100, 120, 8)[None, :, None], (4, 8, 3)).astype(np.uint8)
    apart = np.array([250, 250, 250])
    assert (_apart_in_grey(apart, ramp) == apart).all()
    close = np.array([95, 110, 100])  # grey ~106: inside the ramp's 100..120
    darker = _apart_in_grey(close, ramp)
    assert darker @ BGR_LUMA <= 100 - MIN_GREY_CONTRAST + 0.5
    # hue kept: the channels keep their order
    assert list(np.argsort(darker)) == list(np.argsort(close))
