import pytest

from vidops.data.labels import LabelError, check_label, clip_id
from vidops.fileio import sha256_file


@pytest.mark.parametrize("bad", ["", "  ", "..", "a/../b", "a/b", "a\\b", "tab\there", "x" * 65,
                                 "bell\x07", 'quo"te', "com,ma"])
def test_unsafe_labels_are_refused_naming_the_source(bad):
    with pytest.raises(LabelError, match=r"labels\.csv:7"):
        check_label(bad, "labels.csv:7")


@pytest.mark.parametrize("good", ["walk", "hand wave", "Ölfleck", "class_3", "a.b"])
def test_ordinary_labels_pass(good):
    assert check_label(f" {good} ", "src") == good


def test_clip_id_is_the_sha256_prefix(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    digest = sha256_file(path)
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert clip_id(digest) == "ba7816bf8f01cfea"
