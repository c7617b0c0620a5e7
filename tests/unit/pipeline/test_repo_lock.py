import subprocess
import sys

import pytest

from vidops.pipeline.repo_lock import RepoBusy, repo_lock


def test_second_holder_is_refused_with_the_first_ones_name(tmp_path):
    with repo_lock(tmp_path):
        code = ("import sys; from pathlib import Path; from vidops.pipeline.repo_lock import repo_lock\n"
                "with repo_lock(Path(sys.argv[1])): pass")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                               text=True)
        assert other.returncode != 0
        assert "already in progress" in other.stderr and "pid" in other.stderr


def test_lock_is_released_after_the_block(tmp_path):
    with repo_lock(tmp_path):
        assert "pid" in (tmp_path / ".vidops.lock").read_text()
    assert (tmp_path / ".vidops.lock").read_text() == ""
    with repo_lock(tmp_path):
        pass


def test_same_process_cannot_nest(tmp_path):
    with repo_lock(tmp_path), pytest.raises(RepoBusy), repo_lock(tmp_path):
        pass
