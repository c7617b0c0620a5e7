"""Video-level scoring: each test video as the mean of several temporally shifted views."""

from __future__ import annotations

import numpy as np

from vidops.data.clips import UsableClip
from vidops.models.artifact import LoadedModel
from vidops.video.decode import sample_views


def video_level_probs(loaded: LoadedModel, clips: list[UsableClip], views: int,
                      batch_size: int, frames: np.ndarray | None = None,
                      probs: np.ndarray | None = None) -> np.ndarray:
    """Each video scored as the mean of ``views`` temporally shifted clips, ``(N, classes)``.

    As the standard video benchmarks do: the views cover different frames of the same
    segments, so one unlucky sample does not decide the video's label. ``frames`` and
    ``probs``: the clips' extracted frames and the model's probabilities for them; a view
    whose frames are those exactly (the centre view of an odd number under uniform
    sampling) takes its probabilities from there instead of through the model again.
    """
    offsets = [(k + 0.5) / views for k in range(views)]
    out = []
    for i, clip in enumerate(clips):
        stack = [view.frames for view in sample_views(clip.path, loaded.frames, offsets)]
        known = {k: probs[i] for k, view in enumerate(stack)
                 if frames is not None and probs is not None and np.array_equal(view, frames[i])}
        todo = [k for k in range(len(stack)) if k not in known]
        rows = dict(known)
        if todo:
            computed = loaded.predict_proba(np.stack([stack[k] for k in todo]), batch_size)
            rows.update(zip(todo, computed, strict=True))
        out.append(np.mean([rows[k] for k in range(len(stack))], axis=0))
    return np.stack(out)
