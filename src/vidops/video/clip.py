"""The clip types every decoder returns, and the error every decoder raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidops.errors import VidopsError


class DecodeError(VidopsError):
    """A clip could not be decoded; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class ClipProbe:
    """What decoding one clip told us, beyond its pixels."""

    decoded_frames: int  # frames in the clip, the count indices refer to: counted by decoding,
    # or by packets when they match the container's count (backend_pyav._decode_selective)
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
