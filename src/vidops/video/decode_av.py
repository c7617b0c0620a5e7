"""Exact frame sampling with PyAV (FFmpeg's libraries, no subprocess).

Why it is faster than the OpenCV path for the same exactness: the frame count is taken
from the container (or, when it has none, as in Matroska, from the demuxed packets,
which costs no decoding), then one decode pass converts only the wanted frames to RGB;
at the end the decoded count is compared with that count, and only when they differ
(AVIs that over-report, a cut-short stream) is the clip sampled again with the true
count. Intra-only codecs (MJPEG) decode only the wanted packets.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from vidops.config import ExtractConfig
from vidops.video.decode import ClipProbe, DecodeError, SampledClip
from vidops.video.sampling import Offset, ShortClip, sample_indices
from vidops.video.transforms import place, scaled_size


def _open(path: Path):
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise DecodeError(path, f"not a readable video ({path.stat().st_size} bytes; "
                                f"PyAV: {err})") from None
    if not container.streams.video:
        container.close()
        raise DecodeError(path, "no video stream")
    stream = container.streams.video[0]
    # One thread per clip: extraction runs clips in parallel processes instead.
    stream.thread_type = "NONE"
    stream.codec_context.thread_count = 1
    return container, stream


def _container_count(path: Path) -> int:
    """The container's frame count, else the number of video packets (demuxed, not decoded)."""
    import av

    container, stream = _open(path)
    try:
        if stream.frames > 0:
            return stream.frames
        packets = sum(1 for p in container.demux(stream) if p.size > 0)
        if packets == 0:
            raise DecodeError(path, "no video packets")
        return packets
    except av.error.FFmpegError as err:
        raise DecodeError(path, f"demuxing failed: {err}") from None
    finally:
        container.close()


def sample_views(path: Path | str, cfg: ExtractConfig, offsets: list[Offset]) -> list[SampledClip]:
    path = Path(path)
    if not path.is_file():
        raise DecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    claimed: int | None = None
    count, known = None, None
    for _ in range(3):
        views, picked, info, count = _decode(path, cfg, offsets, count, known)
        claimed = claimed or count
        if info.decoded_frames == count:
            if views is None:  # too short to sample, and the count is now verified
                try:
                    sample_indices(count, cfg)
                except ShortClip as err:
                    raise DecodeError(path, f"too short: {err}") from None
            return [SampledClip(np.stack([picked[i] for i in idx]), idx, info) for idx in views]
        # The claim was wrong (or a damaged packet ended the stream): sample again with
        # what really decoded; a second pass stops there.
        count, known = info.decoded_frames, info
    raise DecodeError(path, f"the frame count changes between decode passes (the container "
                            f"claims {claimed}, the last pass decoded {count})")


def _decode(path: Path, cfg: ExtractConfig, offsets: list[Offset], count: int | None,
            known: ClipProbe | None = None
            ) -> tuple[list[list[int]] | None, dict[int, np.ndarray], ClipProbe, int]:
    """One decode pass for the frames ``count`` implies; ``None``: the container's count.

    Returns the views (``None`` when the clip is too short for them), the frames picked,
    what decoding found, and the count the views were computed for.
    """
    import av

    container, stream = _open(path)
    if count is None:
        count = stream.frames
        if count <= 0:  # no count in the container (Matroska, raw streams): demux for one
            container.close()
            count = _container_count(path)
            container, stream = _open(path)
    try:
        views: list[list[int]] | None = [sample_indices(count, cfg, o) for o in offsets]
    except ShortClip as err:
        if known is not None:
            container.close()
            raise DecodeError(path, f"too short: {err}") from None
        views = None  # the count is not verified yet: decode to count, then decide
    wanted = set().union(*views) if views else set()
    picked: dict[int, np.ndarray] = {}
    ctx = stream.codec_context
    width, height = scaled_size(ctx.width, ctx.height, cfg.size, cfg.resize)
    reformatter = av.video.reformatter.VideoReformatter()  # one scaler context per clip

    def convert(frame) -> np.ndarray:
        # libswscale scales and converts to RGB in one step, at the small size: 0.7 ms
        # for a 720p frame, against 8.6 ms for RGB at full size plus cv2.resize.
        small = reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                     interpolation="AREA")
        return place(small.to_ndarray(), cfg.size, cfg.resize)

    rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    decoded = 0
    try:
        if ctx.codec.intra_only and known is None:
            # Every packet is a whole frame: decode only the wanted ones.
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if decoded in wanted:
                    for frame in ctx.decode(packet):
                        picked[decoded] = convert(frame)
                decoded += 1  # one packet, one frame: the count check below still holds
        else:
            for frame in container.decode(stream):
                if known is not None and decoded >= count:
                    break  # second pass: the first one found where the stream really ends
                if decoded in wanted:
                    picked[decoded] = convert(frame)
                decoded += 1
    except av.error.FFmpegError as err:
        if decoded == 0:
            raise DecodeError(path, f"decoding failed at the first frame: {err}") from None
        # Cut short mid-stream: what decoded is the clip; the caller samples it again.
    finally:
        container.close()
    if decoded == 0:
        raise DecodeError(path, f"no frame could be decoded (the container claims {count})")
    missing = wanted - picked.keys()
    if missing and decoded == count:
        raise DecodeError(path, f"frames {sorted(missing)[:5]} were not decoded")
    info = ClipProbe(decoded, max(stream.frames, 0), float(rate), ctx.width, ctx.height, ctx.name)
    return views, picked, info, count
