import numpy as np

from vidops.video.transforms import fit_square


def test_crop_fills_the_square_from_the_centre():
    frame = np.zeros((48, 96, 3), np.uint8)
    frame[:, 24:72] = 200  # the centre half is bright
    out = fit_square(frame, 32, "crop")
    assert out.shape == (32, 32, 3)
    assert out.min() == 200  # the dark sides were cropped away


def test_pad_keeps_everything_and_letterboxes():
    frame = np.full((48, 96, 3), 200, np.uint8)
    out = fit_square(frame, 32, "pad")
    assert out.shape == (32, 32, 3)
    assert out[0].max() == 0 and out[-1].max() == 0  # black bars top and bottom
    assert out[16].min() == 200  # content in the middle


def test_both_orientations_give_the_same_shape():
    for h, w in ((48, 96), (96, 48), (50, 50)):
        for mode in ("crop", "pad"):
            assert fit_square(np.zeros((h, w, 3), np.uint8), 20, mode).shape == (20, 20, 3)


def test_crop_hides_the_source_aspect_ratio_and_pad_shows_it():
    """Two cameras film the same scene, one wider: crop gives the model the same pixels."""
    scene = np.random.default_rng(0).integers(30, 255, (48, 112, 3), dtype=np.uint8)
    narrow = scene[:, 24:88]  # 64 x 48, same centre
    crop_wide, crop_narrow = fit_square(scene, 32, "crop"), fit_square(narrow, 32, "crop")
    # Equal up to resampling phase (the wide frame scales to 74.67 px and is rounded).
    assert np.abs(crop_wide.astype(int) - crop_narrow).mean() < 3
    assert crop_wide.min() > 0  # no bars either way
    pad_wide, pad_narrow = fit_square(scene, 32, "pad"), fit_square(narrow, 32, "pad")
    bar_rows = lambda frame: int((frame.max(axis=(1, 2)) == 0).sum())  # noqa: E731
    assert bar_rows(pad_wide) > bar_rows(pad_narrow)  # the bars give the camera away
