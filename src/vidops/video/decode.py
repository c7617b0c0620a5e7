"""The decode front end: exact sampled frames of a file or of bytes, by ``extract.decoder``.

The backends (backend_pyav.py, backend_opencv.py) return the same ``SampledClip``;
``auto`` tries PyAV and falls back to OpenCV on a file PyAV cannot decode.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from vidops.config import ExtractConfig
from vidops.video import backend_opencv, backend_pyav
from vidops.video.clip import DecodeError, SampledClip
from vidops.video.sampling import Offset

log = logging.getLogger(__name__)


def sample_clip(path: Path | str, cfg: ExtractConfig, offset: float = 0.5) -> SampledClip:
    """Decode the ``cfg.num_frames`` uniformly spaced frames of ``path``, resized to squares.

    ``offset``: where in each segment the frame is taken (0.5: centre; see uniform_indices).
    """
    return sample_views(path, cfg, [offset])[0]


def sample_views(path: Path | str, cfg: ExtractConfig, offsets: list[Offset]) -> list[SampledClip]:
    """Several temporal views of one clip, decoded by ``cfg.decoder``.

    ``auto`` uses PyAV (one decode pass, see backend_pyav.py) and falls back to OpenCV when
    PyAV cannot decode a file; when both fail, PyAV's reason is reported.
    """
    if cfg.decoder == "opencv":
        return backend_opencv.sample_views(path, cfg, offsets)
    if cfg.decoder == "pyav":
        return backend_pyav.sample_views(path, cfg, offsets)
    try:
        return backend_pyav.sample_views(path, cfg, offsets)
    except DecodeError as first:
        try:
            views = backend_opencv.sample_views(path, cfg, offsets)
        except DecodeError:
            raise first from None
        log.warning("PyAV could not decode %s (%s); decoded it with OpenCV", path, first.reason)
        return views


def sample_bytes(data: bytes, cfg: ExtractConfig, suffix: str = ".mp4") -> SampledClip:
    """Like :func:`sample_clip` for video bytes (serving): FFmpeg needs a seekable file."""
    if not data:
        raise DecodeError("<request>", "empty video (0 bytes)")
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="vidops-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            return sample_clip(name, cfg)
        except DecodeError as err:
            raise DecodeError("<request>", err.reason) from None
    finally:
        os.unlink(name)


def content_stats(frames: np.ndarray) -> tuple[float, float]:
    """Mean intensity and motion energy (mean absolute frame difference), both in [0, 1].

    ``frames`` is ``(T, H, W, 3)`` uint8. A black clip has intensity near 0; a frozen clip
    has motion energy near 0.
    """
    as_float = frames.astype(np.float32) / 255.0
    intensity = float(as_float.mean())
    motion = float(np.abs(np.diff(as_float, axis=0)).mean()) if len(frames) > 1 else 0.0
    return intensity, motion
