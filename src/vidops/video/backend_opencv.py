"""OpenCV backend: exact frame sampling with ``grab()``/``retrieve()``.

Container frame counts lie (trimmed MP4s and AVIs with B-frames over-report), and
seeking with ``CAP_PROP_POS_FRAMES`` lands a frame off on some files, so we count by
decoding and then take the wanted frames in one sequential pass: ``grab()`` decodes
every frame, ``retrieve()`` converts only the wanted ones to RGB, which is where most
of the per-frame cost is.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidops.config import ExtractConfig
from vidops.video.clip import ClipProbe, DecodeError, SampledClip
from vidops.video.sampling import Offset, ShortClip, sample_indices
from vidops.video.transforms import fit_square


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


def sample_views(path: Path | str, cfg: ExtractConfig,
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
