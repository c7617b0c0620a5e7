"""Which frame indices to take from a clip."""

from __future__ import annotations


def uniform_indices(num_decoded: int, num_frames: int, offset: float = 0.5) -> list[int]:
    """One frame from each of ``num_frames`` equal segments of ``[0, num_decoded)``.

    ``offset`` in [0, 1) is where in its segment each frame is taken: 0.5 is the centre
    (the deterministic view); other offsets give the shifted views that video-level
    evaluation averages over. Spans the whole clip, so a motion that happens late is
    still seen. A clip shorter than ``num_frames`` repeats frames (each index is the frame
    shown at that moment), which keeps the time axis evenly spaced instead of padding.
    """
    if not 0.0 <= offset < 1.0:
        raise ValueError(f"offset must be in [0, 1), got {offset}")
    if num_decoded <= 0:
        raise ValueError(f"cannot sample from a clip with {num_decoded} frames")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    return [min(num_decoded - 1, int((i + offset) * num_decoded / num_frames))
            for i in range(num_frames)]
