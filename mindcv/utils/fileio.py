"""Writing files safely: atomic replacement, one-line errors for OS failures, and file locks."""
import errno
import fcntl
import glob
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional, Union

from .errors import FileWriteError

__all__ = ["atomic_path", "write_text_atomic", "describe_os_error", "file_lock", "RunLock", "fsync_directory",
           "remove_stale_temporaries"]

PathLike = Union[str, os.PathLike]


def describe_os_error(exc: OSError, path: PathLike, action: str = "write") -> FileWriteError:
    """A :class:`FileWriteError` naming ``path`` and what to do about ``exc``."""
    hints = {
        errno.ENOSPC: "the disk is full; free space or choose another folder",
        errno.EDQUOT: "the disk quota is exhausted; free space or choose another folder",
        errno.EROFS: "the file system is read-only; choose a writable folder",
        errno.EACCES: "permission denied; choose a folder you can write to",
        errno.EPERM: "permission denied; choose a folder you can write to",
        errno.ENOENT: "the folder does not exist; create it or fix the path",
        errno.ENOTDIR: "a part of the path is a file, not a folder; fix the path",
        errno.EISDIR: "the path is a folder; give a file name",
        errno.EEXIST: "a file is in the way of a folder; fix the path",
        errno.EFBIG: "the file is larger than this process may write (ulimit -f) or the file system allows",
    }
    reason = hints.get(exc.errno, exc.strerror or str(exc))
    return FileWriteError(f"Cannot {action} {path}: {reason}.")


def fsync_directory(directory: PathLike) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporaries(path: Path, pid: str = "") -> Iterator[Path]:
    """The temporary files of writes to ``path`` (by process ``pid``; any process when empty), ours and those a
    writer derives from them (MindSpore writes ``<name>.tmp`` for a ``<name>.ckpt``)."""
    prefix = path.with_name(f".{path.name}.tmp{pid}")
    for name in glob.glob(glob.escape(str(prefix)) + "*"):
        if not pid or not name[len(str(prefix)):][:1].isdigit():  # pid 12 is not pid 123
            yield Path(name)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> None:
    """Remove the temporary files of writes to ``path`` whose process is gone (killed mid-write)."""
    for stale in _temporaries(Path(path)):
        pid = "".join(c for c in stale.name[len(Path(path).name) + 5:].split(".")[0] if c.isdigit())
        if pid and not _process_alive(int(pid)):
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it is fsynced and renamed onto ``path``.

    On any failure the temporary files (also those the writer made from the name) are removed and ``path``
    keeps its previous content; those of killed processes are removed at the next write of ``path``. OS errors
    (disk full, read-only or missing folder) become one :class:`FileWriteError` naming ``path``.
    ``suffix`` is the temporary name's ending, for writers that insist on one (MindSpore appends ``.ckpt``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except OSError as exc:
        raise describe_os_error(exc, path) from exc
    finally:
        for partial in _temporaries(path, str(os.getpid())):
            try:
                partial.unlink()
            except OSError:
                pass


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def file_lock(path: PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed) for the duration of the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunLock:
    """A non-blocking exclusive lock on a run directory, released on exit and by the holder's death.

    The lock file records the holder (pid, host, start time) so a refused process can name it. A lock file
    left by a dead process is not held (the operating system releases ``flock`` locks with the process), so
    it never blocks a new run.
    """

    FILENAME = ".lock"

    def __init__(self, directory: PathLike):
        self.path = Path(directory) / self.FILENAME
        self._handle = None

    def holder(self) -> Optional[Dict]:
        """The recorded holder of a lock that is currently held, or None."""
        try:
            with open(self.path, "r") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    try:
                        return json.loads(handle.read() or "{}")
                    except ValueError:
                        return {}
                fcntl.flock(handle, fcntl.LOCK_UN)
        except FileNotFoundError:
            return None
        return None

    def acquire(self) -> bool:
        """Take the lock; False when another live process holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as exc:
            raise describe_os_error(exc, self.path, "create") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
