"""The clips train, evaluate and register read: their frames are what extract wrote for them."""

import pytest

from support import prepared_project
from vidops.config import ExtractConfig
from vidops.data.clips import usable_clips
from vidops.errors import DataError


@pytest.fixture
def project(tmp_path):
    return prepared_project(tmp_path, ExtractConfig(num_frames=4, size=32))


def _clips(project):
    return usable_clips(project / "manifest.csv", project / "frames", project / "validation.json")


def test_frames_swapped_between_two_clips_are_refused_naming_the_file(project):
    """#30: two clips' frames of the same shape swapped were scored as each other's."""
    first, second = [c.frames_file for c in _clips(project) if c.split == "test"][:2]
    a, b = first.read_bytes(), second.read_bytes()
    assert a != b
    first.write_bytes(b)
    second.write_bytes(a)
    with pytest.raises(DataError, match=rf"{first.name}: content differs from the digest extract "
                                        r"recorded for it .*`dvc repro extract`"):
        _clips(project)


def test_a_missing_frames_file_is_named(project):
    victim = _clips(project)[0].frames_file
    victim.unlink()
    with pytest.raises(DataError, match=rf"{victim.name}: frames file missing"):
        _clips(project)
