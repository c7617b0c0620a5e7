"""Pure frame transforms on uint8 RGB arrays."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in grey: motion, flow, colour jitter


def fit_square(frame: np.ndarray, size: int, mode: Literal["crop", "pad"]) -> np.ndarray:
    """Resize one ``(H, W, 3)`` frame to ``(size, size, 3)``.

    ``crop`` scales the short side to ``size`` and centre-crops; ``pad`` scales the long
    side and letterboxes with black, so no content is cut off. Either way every clip
    ends square, so the aspect ratio of the source cannot leak into the input as a
    shape difference.
    """
    h, w = frame.shape[:2]
    new_w, new_h = scaled_size(w, h, size, mode)
    # INTER_AREA averages the pixels that shrink together; it does not alias on downscaling.
    interp = cv2.INTER_AREA if new_w < w else cv2.INTER_LINEAR
    return place(cv2.resize(frame, (new_w, new_h), interpolation=interp), size, mode)


def scaled_size(w: int, h: int, size: int, mode: Literal["crop", "pad"]) -> tuple[int, int]:
    """``(width, height)`` a frame is scaled to before :func:`place` crops or pads it."""
    scale = size / min(h, w) if mode == "crop" else size / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def place(resized: np.ndarray, size: int, mode: Literal["crop", "pad"]) -> np.ndarray:
    """Centre-crop or letterbox a frame already scaled to :func:`scaled_size`."""
    new_h, new_w = resized.shape[:2]
    if mode == "crop":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return np.ascontiguousarray(resized[top : top + size, left : left + size])
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out
