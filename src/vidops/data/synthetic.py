"""The embedded demo dataset: real encoded clips whose classes differ only in motion.

Every clip shows one polygon on a noisy background. Shape, colours, background, size,
position, speed and length are drawn independently of the class, so no single frame
tells the class apart: only how the shape moves over time does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("slide", "spin", "pulse", "still")


@dataclass(frozen=True)
class SynthSpec:
    per_class: int = 30  # clips per class
    width: int = 128  # frame width in pixels
    height: int = 96  # frame height in pixels
    fps: float = 15.0  # frames per second of the encoded clip
    min_frames: int = 20  # clip length is drawn from [min_frames, max_frames]
    max_frames: int = 36
    seed: int = 0  # same seed, same clips


@dataclass(frozen=True)
class _Scene:
    sides: int
    colour: tuple[int, int, int]
    background: np.ndarray  # (H, W, 3) uint8
    noise: float
    centre: np.ndarray  # (2,) float, x y
    radius: float
    angle: float


def _polygon(centre: np.ndarray, radius: float, angle: float, sides: int) -> np.ndarray:
    # An irregular polygon (one long spoke) so that rotation is visible for every shape.
    spokes = [radius * (1.35 if k == 0 else 1.0) for k in range(sides)]
    points = [
        centre + spokes[k] * np.array([math.cos(angle + 2 * math.pi * k / sides),
                                       math.sin(angle + 2 * math.pi * k / sides)])
        for k in range(sides)
    ]
    return np.round(np.array(points)).astype(np.int32)


def _background(rng: np.random.Generator, spec: SynthSpec) -> np.ndarray:
    base = rng.integers(0, 256, size=3)
    tint = rng.integers(0, 256, size=3)
    ramp = np.linspace(0.0, 1.0, spec.width)[None, :, None]
    image = base * (1 - 0.5 * ramp) + tint * 0.5 * ramp
    return np.broadcast_to(image, (spec.height, spec.width, 3)).astype(np.uint8)


MIN_GREY_CONTRAST = 48.0  # grey levels between the shape and the background wherever it is


def _apart_in_grey(colour: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``colour`` (BGR) made darker or brighter until its grey level is ``MIN_GREY_CONTRAST``
    from the background's at every column the shape may cross.

    Apart per channel is not apart in grey: a green shape on a magenta ramp can have the
    background's luminance (10 of 120 clips did), and a clip whose motion no grey level
    shows is a clip whose class nothing that reads motion from grey can tell (the motion
    family's frame differences, dense optical flow). Needs no draw from the generator, so
    every other clip stays as it was.
    """
    weights = np.array([0.114, 0.587, 0.299])  # BT.601 luma weights in B, G, R order
    grey = background[0].astype(np.float64) @ weights  # the ramp runs along x only
    low, high = grey.min() - MIN_GREY_CONTRAST, grey.max() + MIN_GREY_CONTRAST
    value = float(colour @ weights)
    if value <= low or value >= high:
        return colour
    # The nearer side that exists (grey 0..255); the colour keeps its hue, scaled.
    if (value - low <= high - value or high > 255) and low >= 0:
        scaled = colour * (low / value if value > 0 else 0.0)
    elif high <= 255:
        scaled = 255 - (255 - colour) * ((255 - high) / (255 - value) if value < 255 else 0.0)
    else:  # a ramp wider than the grey range allows: as apart from its middle as it can be
        scaled = np.zeros(3) if grey.mean() > 127 else np.full(3, 255.0)
    return np.clip(np.round(scaled), 0, 255).astype(colour.dtype)


def _scene(rng: np.random.Generator, spec: SynthSpec) -> _Scene:
    radius = float(rng.uniform(0.12, 0.22) * min(spec.width, spec.height))
    margin = radius * 1.5
    centre = np.array([rng.uniform(margin, spec.width - margin),
                       rng.uniform(margin, spec.height - margin)])
    background = _background(rng, spec)
    # The shape must stand out: push its colour away from the background's mean.
    mean = background.reshape(-1, 3).mean(0)
    colour = np.where(mean > 127, rng.integers(0, 70, size=3), rng.integers(185, 256, size=3))
    colour = _apart_in_grey(colour, background)
    return _Scene(
        sides=int(rng.integers(3, 7)),
        colour=tuple(int(c) for c in colour),
        background=background,
        noise=float(rng.uniform(1.0, 6.0)),
        centre=centre,
        radius=radius,
        angle=float(rng.uniform(0, 2 * math.pi)),
    )


Motion = Callable[[_Scene, int, int, np.random.Generator, SynthSpec], tuple[np.ndarray, float, float]]


def _slide(s: _Scene, t: int, n: int, rng: np.random.Generator, spec: SynthSpec):
    heading = rng.uniform(0, 2 * math.pi)
    span = 0.6 * min(spec.width, spec.height)
    direction = np.array([math.cos(heading), math.sin(heading)])
    start = np.array([spec.width / 2, spec.height / 2]) - direction * span / 2
    return start + direction * span * t / max(1, n - 1), s.radius, s.angle


def _spin(s: _Scene, t: int, n: int, rng: np.random.Generator, spec: SynthSpec):
    speed = rng.choice([-1, 1]) * rng.uniform(0.2, 0.4)  # radians per frame
    return s.centre, s.radius, s.angle + speed * t


def _pulse(s: _Scene, t: int, n: int, rng: np.random.Generator, spec: SynthSpec):
    cycles = rng.uniform(1.0, 2.5)
    return s.centre, s.radius * (1 + 0.5 * math.sin(2 * math.pi * cycles * t / n)), s.angle


def _still(s: _Scene, t: int, n: int, rng: np.random.Generator, spec: SynthSpec):
    return s.centre, s.radius, s.angle


MOTIONS: dict[str, Motion] = {"slide": _slide, "spin": _spin, "pulse": _pulse, "still": _still}


def render_clip(label: str, rng: np.random.Generator, spec: SynthSpec) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` uint8 BGR of one clip of class ``label``."""
    scene = _scene(rng, spec)
    n = int(rng.integers(spec.min_frames, spec.max_frames + 1))
    motion_seed = int(rng.integers(2**31))
    frames = []
    for t in range(n):
        # The motion's own random parameters (heading, speed) must not change per frame.
        centre, radius, angle = MOTIONS[label](scene, t, n, np.random.default_rng(motion_seed), spec)
        frame = scene.background.copy()
        cv2.fillPoly(frame, [_polygon(centre, radius, angle, scene.sides)], scene.colour,
                     lineType=cv2.LINE_AA)
        noise = rng.normal(0.0, scene.noise, size=frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_clip(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode ``(T, H, W, 3)`` BGR frames as MPEG-4 Part 2 (the encoder OpenCV's wheels ship)."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an mp4v writer")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def write_dataset(out_dir: Path, spec: SynthSpec = SynthSpec()) -> list[Path]:
    """Write ``out_dir/<class>/<class>_<i>.mp4`` for every class; returns the files written."""
    written = []
    for class_index, label in enumerate(CLASSES):
        (out_dir / label).mkdir(parents=True, exist_ok=True)
        for i in range(spec.per_class):
            rng = np.random.default_rng([spec.seed, class_index, i])
            path = out_dir / label / f"{label}_{i:03d}.mp4"
            write_clip(path, render_clip(label, rng, spec), spec.fps)
            written.append(path)
    return written
