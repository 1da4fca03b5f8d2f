"""Downloads into a local cache: atomic, hash-checked, one downloader per node."""
import fcntl
import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from tqdm import tqdm

from .dist import local_rank

__all__ = ["DownloadError", "get_cache_dir", "sha256_file", "download_file", "cached_download"]

_logger = logging.getLogger(__name__)
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed or produced a file that does not match its expected hash."""


def get_cache_dir() -> Path:
    """Checkpoint cache: ``$MINDCV_CACHE_DIR``, else ``$XDG_CACHE_HOME/mindcv``, else ``~/.cache/mindcv``."""
    if os.environ.get("MINDCV_CACHE_DIR"):
        return Path(os.environ["MINDCV_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mindcv"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_hint(url: str, dst: Path) -> str:
    return (f"To work offline, fetch {url} by other means and put it at {dst}, "
            f"or pass checkpoint_path=<local file>.")


def download_file(url: str, dst: Path, sha256: str = "", progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dst`` through a temporary file renamed into place only when complete.

    A short body or a sha256 mismatch deletes the temporary file and raises :class:`DownloadError`.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{dst.name}.part.{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dst.name,
                      disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"Download of {url} was cut short: received {received} of {total} bytes. "
                                    + _offline_hint(url, dst))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if sha256 and actual != sha256.lower():
            raise DownloadError(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {actual}. "
                                "The file was deleted; the server may hold a different or damaged file. "
                                + _offline_hint(url, dst))
        os.replace(tmp, dst)
    except DownloadError:
        tmp.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"Failed to download {url}: {exc}. " + _offline_hint(url, dst)) from exc
    return dst


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached_file_ok(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    if not sha256:
        return True
    actual = sha256_file(path)
    if actual == sha256.lower():
        return True
    _logger.warning("Cached file %s has sha256 %s, expected %s; deleting it and downloading again.",
                    path, actual, sha256.lower())
    path.unlink(missing_ok=True)
    return False


def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if time.monotonic() > deadline:
            raise DownloadError(f"Waited {timeout:.0f} s for local rank 0 to download {path}; it never appeared. "
                                "Check rank 0's log for the download error.")
        time.sleep(0.5)


def cached_download(url: str, filename: str, sha256: str = "", cache_dir: Optional[Path] = None,
                    progress: bool = True, wait_timeout: Optional[float] = None) -> Path:
    """Return the cached copy of ``url`` (verified against ``sha256`` when given), downloading it if needed.

    Within one node only local rank 0 downloads; the other ranks wait for the finished file.
    A file lock also keeps concurrent non-distributed processes from downloading twice.
    """
    cache_dir = Path(cache_dir) if cache_dir else get_cache_dir()
    dst = cache_dir / filename
    lock = cache_dir / ".locks" / f"{filename}.lock"
    if local_rank() != 0:
        timeout = wait_timeout if wait_timeout is not None else float(os.environ.get("MINDCV_DOWNLOAD_WAIT", 3600))
        _wait_for_file(dst, timeout)
    with _file_lock(lock):
        if _cached_file_ok(dst, sha256):
            return dst
        if local_rank() != 0:
            raise DownloadError(f"{dst} written by local rank 0 does not match sha256 {sha256}.")
        _logger.info("Downloading %s to %s", url, dst)
        return download_file(url, dst, sha256=sha256, progress=progress)
