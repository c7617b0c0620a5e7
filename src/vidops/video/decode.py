"""Exact frame sampling from a video file with OpenCV.

Container frame counts lie (trimmed MP4s and AVIs with B-frames over-report), and
seeking with ``CAP_PROP_POS_FRAMES`` lands a frame off on some files, so we count by
decoding and then take the wanted frames in one sequential pass: ``grab()`` decodes
every frame, ``retrieve()`` converts only the wanted ones to RGB, which is where most
of the per-frame cost is.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidops.config import ExtractConfig
from vidops.video.sampling import Offset, ShortClip, sample_indices
from vidops.video.transforms import fit_square

log = logging.getLogger(__name__)


class DecodeError(Exception):
    """A clip could not be decoded; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class ClipProbe:
    """What decoding one clip told us, beyond its pixels."""

    decoded_frames: int  # frames in the clip, the count indices refer to: counted by decoding,
    # or by packets when they match the container's count (decode_av's selective path)
    header_frames: int  # what the container claims (often wrong)
    fps: float
    width: int
    height: int
    codec: str  # FourCC as text, e.g. "mp4v", "h264", "MJPG"

    @property
    def duration_s(self) -> float:
        return self.decoded_frames / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class SampledClip:
    frames: np.ndarray  # (T, size, size, 3) uint8 RGB
    indices: list[int]  # decoded-frame index of each output frame
    probe: ClipProbe
    packets_decoded: int = 0  # packets sent to the decoder for this clip (PyAV); 0: not counted


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise DecodeError(path, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise DecodeError(path, f"not a readable video ({size} bytes; OpenCV/FFmpeg cannot open it)")
    return cap


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else f"0x{code:08x}"


def probe(path: Path) -> ClipProbe:
    """Open ``path`` and count its frames by decoding them (no colour conversion)."""
    cap = _open(path)
    try:
        header = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        codec = _fourcc(cap)
        count = 0
        while cap.grab():
            count += 1
    finally:
        cap.release()
    if count == 0:
        raise DecodeError(path, f"no frame could be decoded (header claims {header})")
    return ClipProbe(count, max(header, 0), fps, width, height, codec)


def sample_clip(path: Path | str, cfg: ExtractConfig, offset: float = 0.5) -> SampledClip:
    """Decode the ``cfg.num_frames`` uniformly spaced frames of ``path``, resized to squares.

    ``offset``: where in each segment the frame is taken (0.5: centre; see uniform_indices).
    """
    return sample_views(path, cfg, [offset])[0]


def sample_views(path: Path | str, cfg: ExtractConfig, offsets: list[Offset]) -> list[SampledClip]:
    """Several temporal views of one clip, decoded by ``cfg.decoder``.

    ``auto`` uses PyAV (one decode pass, see decode_av.py) and falls back to OpenCV when
    PyAV cannot decode a file; when both fail, PyAV's reason is reported.
    """
    if cfg.decoder == "opencv":
        return sample_views_opencv(path, cfg, offsets)
    from vidops.video import decode_av

    if cfg.decoder == "pyav":
        return decode_av.sample_views(path, cfg, offsets)
    try:
        return decode_av.sample_views(path, cfg, offsets)
    except DecodeError as first:
        try:
            views = sample_views_opencv(path, cfg, offsets)
        except DecodeError:
            raise first from None
        log.warning("PyAV could not decode %s (%s); decoded it with OpenCV", path, first.reason)
        return views


def sample_views_opencv(path: Path | str, cfg: ExtractConfig,
                        offsets: list[Offset]) -> list[SampledClip]:
    """OpenCV: a count pass (``grab`` every frame), then a pass that converts only the wanted."""
    path = Path(path)
    info = probe(path)
    try:
        views = [sample_indices(info.decoded_frames, cfg, o) for o in offsets]
    except ShortClip as err:
        raise DecodeError(path, f"too short: {err}") from None
    wanted = set().union(*views)
    picked: dict[int, np.ndarray] = {}
    cap = _open(path)
    try:
        for index in range(max(wanted) + 1):
            if not cap.grab():
                raise DecodeError(path, f"decoding stopped at frame {index} of {info.decoded_frames}")
            if index in wanted:
                ok, bgr = cap.retrieve()
                if not ok:
                    raise DecodeError(path, f"frame {index} was decoded but could not be converted")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                picked[index] = fit_square(rgb, cfg.size, cfg.resize)
    finally:
        cap.release()
    return [SampledClip(np.stack([picked[i] for i in idx]), idx, info) for idx in views]


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
