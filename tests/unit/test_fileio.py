"""Atomic writes: a kill or a full disk leaves the old file, never a torn or empty one."""

from __future__ import annotations

import errno

import pytest

from vidops.fileio import DiskFull, atomic_write, atomic_write_text


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "index.csv"
    target.write_text("old\n")

    def dies(handle):
        handle.write("half")
        raise KeyboardInterrupt  # the kill

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, dies, text=True)
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


def test_a_full_disk_is_named_with_the_file(tmp_path):
    """#22: `OSError: 1228800 requested and 3968 written`, no file named, 0-byte temp files."""
    target = tmp_path / "frames.npy"
    target.write_bytes(b"old")

    def full(handle):
        handle.write(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull, match=f"{target}: no space left"):
        atomic_write(target, full)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
