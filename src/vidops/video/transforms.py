"""Pure frame transforms on uint8 RGB arrays."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np


def fit_square(frame: np.ndarray, size: int, mode: Literal["crop", "pad"]) -> np.ndarray:
    """Resize one ``(H, W, 3)`` frame to ``(size, size, 3)``.

    ``crop`` scales the short side to ``size`` and centre-crops; ``pad`` scales the long
    side and letterboxes with black, so no content is cut off. Either way every clip
    ends square, so the aspect ratio of the source cannot leak into the input as a
    shape difference.
    """
    h, w = frame.shape[:2]
    scale = size / min(h, w) if mode == "crop" else size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    # INTER_AREA averages the pixels that shrink together; it does not alias on downscaling.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    if mode == "crop":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return np.ascontiguousarray(resized[top : top + size, left : left + size])
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out
