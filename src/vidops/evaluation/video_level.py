"""Video-level scoring: each test video as the mean of several temporally shifted views."""

from __future__ import annotations

import numpy as np

from vidops.data.clips import UsableClip
from vidops.models.artifact import LoadedModel
from vidops.video.decode import sample_views


def video_level_probs(loaded: LoadedModel, clips: list[UsableClip], views: int,
                      batch_size: int) -> np.ndarray:
    """Each video scored as the mean of ``views`` temporally shifted clips, ``(N, classes)``.

    As the standard video benchmarks do: the views cover different frames of the same
    segments, so one unlucky sample does not decide the video's label.
    """
    offsets = [(k + 0.5) / views for k in range(views)]
    out = []
    for clip in clips:
        stack = np.stack([view.frames for view in sample_views(clip.path, loaded.frames, offsets)])
        out.append(loaded.predict_proba(stack, batch_size).mean(axis=0))
    return np.stack(out)
