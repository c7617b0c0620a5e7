"""Video-level views: the centre view is the extracted clip, so its probabilities are reused."""

import numpy as np
import torch

from support import write_numbered
from vidops.config import ExtractConfig
from vidops.data.clips import UsableClip
from vidops.evaluation.video_level import video_level_probs
from vidops.models.artifact import LoadedModel
from vidops.video.decode import sample_clip


class CountingModel(torch.nn.Module):
    """Two classes from the clip's mean brightness; counts the clips it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.seen += len(clips)
        level = clips.float().mean((1, 2, 3, 4)) / 255
        return torch.stack([level, 1 - level], dim=1) * 10


def test_the_centre_view_is_not_computed_twice_and_the_answer_is_the_same(tmp_path):
    path = write_numbered(tmp_path / "clip.avi", 40)
    cfg = ExtractConfig(num_frames=4, size=32)
    model = CountingModel()
    loaded = LoadedModel(model, ["a", "b"], cfg, torch.device("cpu"))
    clip = UsableClip("c", str(path), "a", "g", "test", tmp_path / "c.npy")
    frames = sample_clip(path, cfg).frames[None]
    probs = loaded.predict_proba(frames)

    model.seen = 0
    every_view = video_level_probs(loaded, [clip], 3, 16)
    assert model.seen == 3
    model.seen = 0
    reused = video_level_probs(loaded, [clip], 3, 16, frames, probs)
    assert model.seen == 2  # the centre view's probabilities came from ``probs``
    np.testing.assert_allclose(reused, every_view, atol=1e-6)
    model.seen = 0
    other = video_level_probs(loaded, [clip], 3, 16, np.zeros_like(frames), probs)
    assert model.seen == 3  # frames that are not the view's: nothing reused
    np.testing.assert_allclose(other, every_view, atol=1e-6)
