"""Exact frame selection, proven on clips that carry their frame number in the pixels."""

import pytest

from support import read_number
from vidops.config import ExtractConfig
from vidops.video.backend_opencv import probe
from vidops.video.decode import DecodeError, content_stats, sample_bytes, sample_clip

CODECS = [("MJPG", ".avi"), ("mp4v", ".mp4"), ("mp4v", ".avi"), ("H264", ".mp4"),
          ("H264-gop10", ".mp4"), ("H264-gop600", ".mkv"), ("mp4v-bframes", ".avi"),
          ("mp4v-bframes", ".mp4")]
DECODERS = ["pyav", "opencv"]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("fourcc, suffix", CODECS)
@pytest.mark.parametrize("frames, t", [(50, 8), (37, 16), (5, 8), (120, 16)])
def test_the_frames_written_are_the_frames_asked_for(numbered_video, fourcc, suffix, frames, t,
                                                     decoder):
    path = numbered_video(frames, fourcc, suffix)
    clip = sample_clip(path, ExtractConfig(num_frames=t, size=64, resize="pad", decoder=decoder))
    assert clip.probe.decoded_frames == frames
    assert clip.frames.shape == (t, 64, 64, 3)
    assert [read_number(f) for f in clip.frames] == clip.indices


@pytest.mark.parametrize("fourcc, suffix", CODECS)
def test_numbers_survive_the_codec_round_trip(numbered_video, fourcc, suffix):
    """Guards the helper itself: otherwise the test above could pass vacuously."""
    clip = sample_clip(numbered_video(20, fourcc, suffix),
                       ExtractConfig(num_frames=20, size=96, resize="pad"))
    assert [read_number(f) for f in clip.frames] == list(range(20))


@pytest.mark.parametrize("fourcc, suffix", CODECS)
def test_both_decoders_give_the_same_frames(numbered_video, fourcc, suffix):
    path = numbered_video(45, fourcc, suffix)
    a = sample_clip(path, ExtractConfig(num_frames=8, size=48, decoder="pyav"))
    b = sample_clip(path, ExtractConfig(num_frames=8, size=48, decoder="opencv"))
    assert a.indices == b.indices
    # Same libavcodec output; the RGB conversion differs by rounding only.
    assert abs(a.frames.astype(int) - b.frames).mean() < 2.0


def test_probe_counts_by_decoding(numbered_video):
    info = probe(numbered_video(31))
    assert info.decoded_frames == 31
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (96, 96)
    assert info.duration_s == pytest.approx(31 / 25)


@pytest.mark.parametrize("decoder", ["auto", *DECODERS])
def test_zero_byte_file_is_named_with_reason(tmp_path, decoder):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        sample_clip(path, ExtractConfig(decoder=decoder))


@pytest.mark.parametrize("decoder", ["auto", *DECODERS])
def test_text_file_named_mp4_is_refused(tmp_path, decoder):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(DecodeError, match=r"notes\.mp4: not a readable video"):
        sample_clip(path, ExtractConfig(decoder=decoder))


@pytest.mark.parametrize("decoder", ["auto", *DECODERS])
def test_truncated_clip_is_refused_naming_it(numbered_video, tmp_path, decoder):
    whole = numbered_video(40, "mp4v", ".mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(whole[: len(whole) // 2])  # the moov atom at the end is gone
    with pytest.raises(DecodeError, match=r"cut\.mp4"):
        sample_clip(path, ExtractConfig(decoder=decoder))


@pytest.mark.parametrize("decoder", DECODERS)
def test_h264_cut_mid_stream_samples_what_decodes(numbered_video, tmp_path, decoder):
    """An H.264 stream cut in half (Matroska keeps playing what is there)."""
    whole = numbered_video(120, "H264", ".mkv").read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(whole[: len(whole) // 2])
    clip = sample_clip(path, ExtractConfig(num_frames=8, size=64, resize="pad", decoder=decoder))
    assert 20 < clip.probe.decoded_frames < 120
    assert [read_number(f) for f in clip.frames] == clip.indices
    assert clip.indices[-1] < clip.probe.decoded_frames


@pytest.mark.parametrize("decoder", ["auto", *DECODERS])
def test_missing_file(tmp_path, decoder):
    with pytest.raises(DecodeError, match="file not found"):
        sample_clip(tmp_path / "nope.mp4", ExtractConfig(decoder=decoder))


def test_bytes_decode_like_files(numbered_video):
    path = numbered_video(30)
    cfg = ExtractConfig(num_frames=4, size=32)
    assert (sample_bytes(path.read_bytes(), cfg, ".avi").frames == sample_clip(path, cfg).frames).all()


def test_garbage_bytes_raise_without_a_server_path():
    with pytest.raises(DecodeError) as err:
        sample_bytes(b"\x00garbage" * 100, ExtractConfig())
    assert err.value.path == "<request>"


def test_content_stats_see_black_and_frozen_clips():
    import numpy as np

    black = np.zeros((6, 8, 8, 3), np.uint8)
    assert content_stats(black) == (0.0, 0.0)
    moving = np.stack([np.full((8, 8, 3), 40 * i, np.uint8) for i in range(6)])
    intensity, motion = content_stats(moving)
    assert intensity > 0.3 and motion == pytest.approx(40 / 255, abs=1e-4)


def test_views_are_exact_and_share_one_decode(numbered_video):
    from vidops.video.decode import sample_views

    path = numbered_video(60)
    views = sample_views(path, ExtractConfig(num_frames=6, size=64, resize="pad"), [1 / 6, 0.5, 5 / 6])
    assert [v.indices for v in views] == [[1, 11, 21, 31, 41, 51], [5, 15, 25, 35, 45, 55],
                                          [8, 18, 28, 38, 48, 58]]
    for view in views:
        assert [read_number(f) for f in view.frames] == view.indices


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("fourcc", ["MJPG", "mp4v"])
def test_avi_whose_header_claims_more_frames_than_decode(numbered_video, tmp_path, decoder, fourcc):
    """The header says 60 frames, about half are left: indices follow what really decodes."""
    whole = numbered_video(60, fourcc, ".avi").read_bytes()
    path = tmp_path / "short.avi"
    path.write_bytes(whole[: len(whole) // 2])
    clip = sample_clip(path, ExtractConfig(num_frames=8, size=64, resize="pad", decoder=decoder))
    assert clip.probe.header_frames == 60 and 10 < clip.probe.decoded_frames < 40
    assert [read_number(f) for f in clip.frames] == clip.indices
    assert clip.indices[-1] >= clip.probe.decoded_frames - clip.probe.decoded_frames // 8 - 1


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("fourcc, suffix", [("H264", ".mp4"), ("mp4v", ".avi")])
def test_dense_sampling_is_exact(numbered_video, decoder, fourcc, suffix):
    path = numbered_video(90, fourcc, suffix)
    cfg = ExtractConfig(num_frames=8, size=64, resize="pad", sampling="dense", stride=3,
                        decoder=decoder)
    clip = sample_clip(path, cfg)
    assert clip.indices == [34, 37, 40, 43, 46, 49, 52, 55]
    assert [read_number(f) for f in clip.frames] == clip.indices


@pytest.mark.parametrize("decoder", ["auto", *DECODERS])
def test_short_clip_rejected_with_the_reason(numbered_video, decoder):
    path = numbered_video(5, "H264", ".mp4", name="five")
    with pytest.raises(DecodeError, match=r"five_H264\.mp4: too short: 5 frames, fewer than the 8"):
        sample_clip(path, ExtractConfig(num_frames=8, short_clip="reject", decoder=decoder))
    looped = sample_clip(path, ExtractConfig(num_frames=8, size=64, resize="pad",
                                             short_clip="loop", decoder=decoder))
    assert [read_number(f) for f in looped.frames] == [0, 1, 2, 3, 4, 0, 1, 2]


# Packets each codec needs at most for T=16 of 250 frames: intra-only decodes only the 16;
# MPEG-4 from OpenCV has a keyframe every 12 frames; x264 with a GOP of 10 has cut points
# every 10; x264's default GOP (250) leaves only skipping after the last wanted frame.
SELECTIVE = [("MJPG", ".avi", 16), ("mp4v", ".avi", 120), ("mp4v", ".mp4", 120),
             ("H264-gop10", ".mp4", 130), ("H264", ".mp4", 250), ("H264-gop600", ".mkv", 250),
             ("mp4v-bframes", ".mp4", 250)]  # open GOPs: no cut point after the first


@pytest.mark.parametrize("fourcc, suffix, most", SELECTIVE)
def test_sparse_sampling_decodes_only_what_the_wanted_frames_need(numbered_video, fourcc, suffix,
                                                                   most):
    from vidops.video.backend_pyav import sample_views

    path = numbered_video(250, fourcc, suffix)
    (clip,) = sample_views(path, ExtractConfig(num_frames=16, size=64, decoder="pyav"), [0.5])
    assert [read_number(f) for f in clip.frames] == clip.indices
    assert clip.probe.decoded_frames == 250
    assert 16 <= clip.packets_decoded <= most


def test_a_header_that_disagrees_with_the_packets_is_counted_by_decoding(numbered_video, tmp_path):
    from vidops.video.backend_pyav import _decode_selective

    whole = numbered_video(60, "mp4v", ".avi").read_bytes()
    path = tmp_path / "short.avi"
    path.write_bytes(whole[: len(whole) // 2])
    cfg = ExtractConfig(num_frames=8, size=64, decoder="pyav")
    assert _decode_selective(path, cfg, [0.5]) is None  # so the full path counts by decoding
    clip = sample_clip(path, cfg)
    assert clip.packets_decoded == clip.probe.decoded_frames < 60


def test_avi_with_b_frames_is_counted_and_picked_by_decoding(numbered_video):
    """AVI has no presentation times: with B-frames the demuxer's guesses do not say which
    frame the decoder returns (real DivX clips gave neighbouring frames), so the
    selective path is refused and the full decode picks by output order."""
    from vidops.video.backend_pyav import _decode_selective

    path = numbered_video(60, "mp4v-bframes", ".avi")
    cfg = ExtractConfig(num_frames=8, size=64, decoder="pyav")
    assert _decode_selective(path, cfg, [0.5]) is None
    clip = sample_clip(path, cfg)
    assert [read_number(f) for f in clip.frames] == clip.indices
    assert clip.packets_decoded == 60


def test_cut_points_exclude_open_gop_keyframes():
    from vidops.video.backend_pyav import _Plan

    # decode order I0 P3 B1 B2 | I6 B4 B5 P7: the second keyframe's leading B-frames (4, 5)
    # are shown before it, so they reference the previous GOP: not a cut point.
    open_gop = _Plan(8, 8, [[5]], [0, 3, 1, 2, 6, 4, 5, 7], [True, False, False, False, True,
                                                              False, False, False], {})
    assert open_gop.cut_points() == [True, False, False, False, False, False, False, False]
    assert open_gop.needed({5}) == set(range(7))
    closed = _Plan(8, 8, [[5]], [0, 3, 1, 2, 4, 7, 5, 6], [True, False, False, False, True,
                                                            False, False, False], {})
    assert closed.cut_points()[4] and closed.needed({5}) == {4, 5, 6}
