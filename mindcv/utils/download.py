"""Downloads into a local cache: atomic, hash-checked, one downloader per node; and MindCV's ``DownLoad``
(download, check and unpack archives) on the same machinery."""
import bz2
import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional, Tuple, Union

from tqdm import tqdm

from .dist import local_rank
from .errors import DownloadError
from .fileio import atomic_path, file_lock

__all__ = ["DownloadError", "get_cache_dir", "sha256_file", "file_digest", "hash_matches", "download_file",
           "cached_download", "get_default_download_root", "set_default_download_root", "DownLoad", "detect_file_type",
           "FILE_TYPE_ALIASES", "ARCHIVE_TYPE_SUFFIX", "COMPRESS_TYPE_SUFFIX"]

_logger = logging.getLogger(__name__)
_CHUNK = 1 << 20
_HEX = re.compile(r"^[0-9a-f]{8,64}$")


_download_root: Optional[Path] = None  # chosen by set_default_download_root


def get_cache_dir() -> Path:
    """mindcv's cache (downloads in ``models/`` and ``datasets/``, compiled kernels): the folder given to
    :func:`set_default_download_root`, else ``$MINDCV_CACHE_DIR``, else ``$XDG_CACHE_HOME/mindcv``, else
    ``~/.cache/mindcv``."""
    if _download_root is not None:
        return _download_root
    if os.environ.get("MINDCV_CACHE_DIR"):
        return Path(os.environ["MINDCV_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mindcv"


def get_default_download_root() -> str:
    """MindCV's name for the cache folder (:func:`get_cache_dir`)."""
    return str(get_cache_dir())


def set_default_download_root(path: Union[str, os.PathLike, None]) -> None:
    """Use ``path`` as the cache folder from now on (MindCV's API); None returns to the environment's choice."""
    global _download_root
    _download_root = None if path is None else Path(path).expanduser()


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")


def _algorithm(expected: str) -> str:
    """md5 for a 32-digit hash (as Keras publishes), else sha256 (a full hash or its prefix, as timm's file names)."""
    expected = expected.lower()
    if not _HEX.match(expected):
        raise DownloadError(f"Expected file hash {expected!r} is not 8-64 hexadecimal digits.")
    return "md5" if len(expected) == 32 else "sha256"


def hash_matches(actual_hex: str, expected: str) -> bool:
    """True when ``actual_hex`` (of the algorithm :func:`_algorithm` picks) equals or starts with ``expected``."""
    return actual_hex.startswith(expected.lower())


def _offline_hint(url: str, dst: Path) -> str:
    return (f"To work offline, fetch {url} by other means and put it at {dst}, "
            f"or pass checkpoint_path=<local file>.")


def download_file(url: str, dst: Path, file_hash: str = "", progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dst`` through a temporary file renamed into place only when complete.

    ``file_hash`` is an md5 (32 digits), a sha256 or a sha256 prefix; a short body or a mismatch deletes the
    temporary file and raises :class:`DownloadError`.
    """
    dst = Path(dst)
    digest = hashlib.new(_algorithm(file_hash)) if file_hash else None
    with atomic_path(dst) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dst.name,
                          disable=not progress) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, http.client.HTTPException, ValueError, TimeoutError, ConnectionError) as exc:
            raise DownloadError(f"Failed to download {url}: {exc}. " + _offline_hint(url, dst)) from exc
        if total is not None and received != total:
            raise DownloadError(f"Download of {url} was cut short: received {received} of {total} bytes. "
                                + _offline_hint(url, dst))
        if digest is not None and not hash_matches(digest.hexdigest(), file_hash):
            raise DownloadError(f"Hash mismatch for {url}: expected {file_hash.lower()}, got {digest.hexdigest()} "
                                f"({digest.name}). The file was deleted; the server may hold a different or damaged "
                                "file. " + _offline_hint(url, dst))
    return dst


def _cached_file_ok(path: Path, file_hash: str) -> bool:
    if not path.is_file():
        return False
    if not file_hash:
        return True
    actual = file_digest(path, _algorithm(file_hash))
    if hash_matches(actual, file_hash):
        return True
    _logger.warning("Cached file %s has hash %s, expected %s; deleting it and downloading again.",
                    path, actual, file_hash.lower())
    path.unlink(missing_ok=True)
    return False


def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if time.monotonic() > deadline:
            raise DownloadError(f"Waited {timeout:.0f} s for local rank 0 to download {path}; it never appeared. "
                                "Check rank 0's log for the download error.")
        time.sleep(0.5)


def cached_download(url: str, filename: str, file_hash: str = "", cache_dir: Optional[Path] = None,
                    progress: bool = True, wait_timeout: Optional[float] = None) -> Path:
    """Return the cached copy of ``url`` (verified against ``file_hash`` when given), downloading it if needed.

    The hash is checked after the download and on every later use of the cached file. Within one node only
    local rank 0 downloads; the other ranks wait for the finished file. A file lock also keeps concurrent
    non-distributed processes from downloading twice.
    """
    cache_dir = Path(cache_dir) if cache_dir else get_cache_dir()
    dst = cache_dir / filename
    if local_rank() != 0:
        timeout = wait_timeout if wait_timeout is not None else float(os.environ.get("MINDCV_DOWNLOAD_WAIT", 3600))
        _wait_for_file(dst, timeout)
    with file_lock(cache_dir / ".locks" / f"{filename}.lock"):
        if _cached_file_ok(dst, file_hash):
            return dst
        if local_rank() != 0:
            raise DownloadError(f"{dst} written by local rank 0 does not match its expected hash {file_hash}.")
        _logger.info("Downloading %s to %s", url, dst)
        return download_file(url, dst, file_hash=file_hash, progress=progress)


FILE_TYPE_ALIASES = {".tbz": (".tar", ".bz2"), ".tbz2": (".tar", ".bz2"), ".tgz": (".tar", ".gz")}
ARCHIVE_TYPE_SUFFIX = [".tar", ".zip"]
COMPRESS_TYPE_SUFFIX = [".bz2", ".gz"]
_DECOMPRESS = {".bz2": bz2.open, ".gz": gzip.open}


def detect_file_type(filename: str) -> Tuple[str, Optional[str], Optional[str]]:
    """``(suffix, archive type, compression)`` of a file name: ``a.tar.gz`` -> ``(".tar.gz", ".tar", ".gz")``,
    ``a.tgz`` -> ``(".tgz", ".tar", ".gz")``, ``a.gz`` -> ``(".gz", None, ".gz")``, ``a.zip`` -> ``(".zip",
    ".zip", None)``."""
    suffixes = Path(filename).suffixes
    if not suffixes:
        raise DownloadError(f"{filename} has no suffix telling its archive or compression type.")
    last = suffixes[-1]
    if last in FILE_TYPE_ALIASES:
        return (last, *FILE_TYPE_ALIASES[last])
    if last in ARCHIVE_TYPE_SUFFIX:
        return last, last, None
    if last in COMPRESS_TYPE_SUFFIX:
        if len(suffixes) > 1 and suffixes[-2] in ARCHIVE_TYPE_SUFFIX:
            return suffixes[-2] + last, suffixes[-2], last
        return last, None, last
    raise DownloadError(f"{filename}: unknown archive or compression type {last!r} "
                        f"(known: {ARCHIVE_TYPE_SUFFIX + COMPRESS_TYPE_SUFFIX + list(FILE_TYPE_ALIASES)}).")


class DownLoad:
    """MindCV's downloader on this module's machinery: every file arrives through a temporary file renamed into
    place when complete, an ``md5`` is checked (a mismatch deletes the file and raises :class:`DownloadError`),
    and archives unpack without leaving their folder. MindCV's own retries a failed https download over plain
    http and then without certificate checks; this one raises instead."""

    @staticmethod
    def calculate_md5(file_path: str, chunk_size: int = _CHUNK) -> str:
        return file_digest(Path(file_path), "md5")

    def check_md5(self, file_path: str, md5: Optional[str] = None) -> bool:
        return md5 == self.calculate_md5(file_path)

    @staticmethod
    def extract_tar(from_path: str, to_path: Optional[str] = None, compression: Optional[str] = None) -> None:
        with tarfile.open(from_path, f"r:{compression[1:]}" if compression else "r") as archive:
            archive.extractall(to_path or os.path.dirname(from_path), filter="data")

    @staticmethod
    def extract_zip(from_path: str, to_path: Optional[str] = None, compression: Optional[str] = None) -> None:
        with zipfile.ZipFile(from_path) as archive:  # extractall keeps every member inside to_path
            archive.extractall(to_path or os.path.dirname(from_path))

    def extract_archive(self, from_path: str, to_path: Optional[str] = None) -> str:
        """Unpack a .tar/.zip (optionally .gz/.bz2) archive into ``to_path`` (default: its folder), or decompress
        a single .gz/.bz2 file next to it; returns where the content went."""
        to_path = to_path or os.path.dirname(from_path)
        suffix, archive_type, compression = detect_file_type(from_path)
        if archive_type is None:
            target = from_path[: -len(suffix)]
            with atomic_path(target) as partial, _DECOMPRESS[compression](from_path, "rb") as source, \
                    open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
            return target
        extract = self.extract_tar if archive_type == ".tar" else self.extract_zip
        extract(from_path, to_path, compression)
        return to_path

    def download_file(self, url: str, file_path: str, chunk_size: int = _CHUNK) -> None:
        download_file(url, Path(file_path))

    def download_url(self, url: str, path: Optional[str] = None, filename: Optional[str] = None,
                     md5: Optional[str] = None) -> None:
        """Download ``url`` into folder ``path`` (default: the download root) unless a file of that name with
        the right ``md5`` is there already."""
        folder = Path(path or get_default_download_root()).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (filename or os.path.basename(url))
        if target.is_file() and (not md5 or self.check_md5(str(target), md5)):
            return
        download_file(url, target, file_hash=md5 or "")

    def download_and_extract_archive(self, url: str, download_path: Optional[str] = None,
                                     extract_path: Optional[str] = None, filename: Optional[str] = None,
                                     md5: Optional[str] = None, remove_finished: bool = False) -> None:
        download_path = os.path.expanduser(download_path or get_default_download_root())
        filename = filename or os.path.basename(url)
        self.download_url(url, download_path, filename, md5)
        archive = os.path.join(download_path, filename)
        self.extract_archive(archive, extract_path)
        if remove_finished:
            os.remove(archive)
