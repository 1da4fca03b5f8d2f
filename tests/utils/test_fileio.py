"""Atomic writes, one-line OS errors, and the run-directory lock."""
import errno
import os
import subprocess
import sys

import pytest

from mindcv.utils.errors import FileWriteError
from mindcv.utils.fileio import RunLock, atomic_path, describe_os_error, write_text_atomic


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash during the write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_disk_full_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = write_text_atomic(tmp_path / "model.ckpt", "good")

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(FileWriteError, match=f"Cannot write {target}: the disk is full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            monkeypatch.setattr(os, "fsync", full)
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied"),
                                         (errno.ENOENT, "does not exist"), (errno.ENOTDIR, "is a file")])
def test_os_errors_get_a_fix(tmp_path, code, words):
    assert words in str(describe_os_error(OSError(code, "x"), tmp_path / "f"))


@pytest.mark.slow
def test_run_lock_is_exclusive_released_and_names_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from mindcv.utils.fileio import RunLock; "
        f"lock = RunLock({str(tmp_path)!r}); assert lock.acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = RunLock(tmp_path)
        assert not lock.acquire()
        assert lock.holder()["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    stale = RunLock(tmp_path)  # the holder died: its lock file remains but is not held
    assert stale.holder() is None and stale.acquire()
    stale.release()
