"""Where samples come from: image folders (encoded files, read and checked without decoding) and in-memory
arrays (Fashion-MNIST), as random-access sources for MindSpore's ``GeneratorDataset``.

Image files are passed on as their encoded bytes, for MindSpore's C++ decoders (fused with the random crop in
training). Reading a file checks, without decoding it, everything that makes those decoders fail or crash the
process: a JPEG's marker segments (frame, tables, scans: :func:`check_jpeg_header`) and end marker, a PNG's
chunk CRCs, the size against Pillow's decompression-bomb limit. Other formats (BMP, GIF, WebP, TIFF) and modes
MindSpore mis-decodes (16/32-bit, float) are decoded by Pillow, converted to RGB and handed on as BMP. In
training a file that fails is replaced by the next readable file of the split (in file order), so batches stay
full and every rank runs the same number of steps; in evaluation it is left out (label -1, which evaluation
excludes), so no image counts twice. Either way it is warned about once, naming the file, and counted.
"""
import gzip
import logging
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..utils.errors import DataError
from .constants import DECODE_ERRORS, FASHION_MNIST_CLASSES, IMAGE_EXTENSIONS, is_image_file
from .image_checks import check_jpeg_header, check_png_chunks, is_complete

__all__ = ["DataError", "collect_images", "scan_class_names", "list_image_files", "ImageFileList", "ImageFileReader",
           "ImageFolderSource", "BadImageLog", "ArraySource", "read_idx", "find_bad_images", "decode_image",
           "FASHION_MNIST_CLASSES", "sample_key"]

_logger = logging.getLogger(__name__)

# Formats and Pillow modes MindSpore's C++ decoder (OpenCV/libjpeg) turns into the right RGB image.
_NATIVE = {"JPEG": {"RGB", "L", "CMYK"},
           "PNG": {"RGB", "RGBA", "L", "LA", "P", "I;16", "I;16B", "I;16L", "1"}}


def sample_key(seed: int, draw: int) -> int:
    """The random-generator seed of sample draw ``draw`` (epoch and sample, see ``ShardSampler``) under ``seed``."""
    return (seed % (1 << 31)) << 32 | (draw % (1 << 32))


def scan_class_names(split_dir: Path) -> List[str]:
    """Sorted class folder names of ``split_dir``; a flat folder of images raises with layout advice."""
    if not split_dir.is_dir():
        raise DataError(f"Data split folder not found: {split_dir}. Expected <data_dir>/<split>/<class>/<image>.")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        flat = [p for p in split_dir.iterdir() if is_image_file(p)]
        if flat:
            raise DataError(f"{split_dir} holds {len(flat)} images but no class sub-folders. Arrange it as "
                            f"{split_dir}/<class_name>/<image> with the same class folder names as the training "
                            "split (for ImageNet's flat validation set, move each image into the folder of its "
                            "synset, e.g. n01440764, using the official validation labels).")
        raise DataError(f"{split_dir} has no class sub-folders and no images.")
    return classes


class ImageFileList(Sequence):
    """``(file, class index)`` pairs held compactly: the paths relative to their class folder as one bytes array
    and the labels as one int32 array (ImageNet's 1.28 million training files take ~40 MB, and worker processes
    share the pages instead of copying them as they touch Python objects)."""

    def __init__(self, root: Path, class_names: Sequence[str], relative: List[bytes], labels: np.ndarray):
        self.folders = [os.fsencode(Path(root) / name) for name in class_names]
        self.relative = np.array(relative, dtype=bytes)
        self.labels = np.asarray(labels, np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Tuple[Path, int]:
        label = int(self.labels[index])
        return Path(os.fsdecode(os.path.join(self.folders[label], bytes(self.relative[index])))), label


_IMAGE_SUFFIXES = tuple(os.fsencode(suffix) for suffix in IMAGE_EXTENSIONS)


def _is_image_name(name: bytes) -> bool:
    return name.lower().endswith(_IMAGE_SUFFIXES) and not name.startswith(b".")


def _class_images(folder: bytes) -> List[bytes]:
    """The images of one class folder (paths relative to it), sorted. A folder without sub-folders (a link count
    of 2 on ext4, XFS, tmpfs) is read by name only, without a type per entry: 2x faster on ImageNet's folders."""
    try:
        info = os.stat(folder)
    except OSError:
        return []
    if not stat.S_ISDIR(info.st_mode):
        return []
    if info.st_nlink == 2:
        return [name for name in sorted(os.listdir(folder)) if _is_image_name(name)]
    found: List[bytes] = []
    _image_files(folder, b"", found)
    return found


def _image_files(folder: bytes, prefix: bytes, found: List[bytes]) -> None:
    """Append the images under ``folder`` (as ``prefix`` + their path in it) in the order of sorted paths: each
    folder's entries by name, a sub-folder's files in its place (symbolic links to folders are not followed)."""
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _image_files(entry.path, prefix + entry.name + b"/", found)
        elif _is_image_name(entry.name) and entry.is_file():
            found.append(prefix + entry.name)


def list_image_files(split_dir: Path, class_names: Sequence[str], require_every_class: bool) -> ImageFileList:
    """``(file, class index)`` for every image under ``split_dir/<class>/`` (recursively, sorted).

    Class folders absent from ``class_names`` are an error; with ``require_every_class`` (the training split)
    so is a class folder without images, and all such classes are named.
    """
    present = scan_class_names(split_dir)
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise DataError(f"{split_dir} has class folders {unknown[:10]} that the training split does not have; "
                        "every split must use the training split's class names.")
    relative: List[bytes] = []
    empty = []
    with ThreadPoolExecutor(min(2, len(class_names))) as pool:  # two: the system calls of one run beside the other
        listings = list(pool.map(lambda name: _class_images(os.fsencode(split_dir / name)), class_names))
    for name, found in zip(class_names, listings):
        if not found and (require_every_class or (split_dir / name).is_dir()):
            empty.append(name)
        relative += found
    if not relative:
        raise DataError(f"No images found under {split_dir} (extensions: .jpg, .jpeg, .png, .bmp, .tif, .webp, ...).")
    if empty and require_every_class:
        raise DataError(f"{len(empty)} class folder(s) of {split_dir} hold no images: {', '.join(empty[:20])}"
                        f"{' ...' if len(empty) > 20 else ''}. Add images or remove the folders (a class without "
                        "examples cannot be learned and shifts every class index).")
    labels = np.repeat(np.arange(len(class_names), dtype=np.int32), [len(found) for found in listings])
    return ImageFileList(split_dir, class_names, relative, labels)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """RGB uint8 for any Pillow mode: 16/32-bit integer images are scaled from 16 bits, float images from
    [0, 1], palette and alpha images drop their transparency, CMYK is converted."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image, dtype=np.float64)
        grey = np.clip(values, 0, 65535) / 257.0
    elif mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0
    else:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    grey = np.round(grey).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes to an RGB uint8 HWC array with Pillow (raises on corrupt data)."""
    with Image.open(BytesIO(data)) as img:
        img.load()
        return _to_rgb(img)


class ImageFileReader:
    """Reads image files into bytes MindSpore's decoders handle, checking them without decoding.

    ``read(path)`` returns the bytes or raises one of ``DECODE_ERRORS``/``DataError`` with the reason;
    ``max_pixels`` defaults to Pillow's ``Image.MAX_IMAGE_PIXELS`` (raise it there, or pass it here, to
    accept larger images).
    """

    def __init__(self, max_pixels: Optional[int] = None):
        self.max_pixels = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS

    def _check_size(self, width: int, height: int) -> None:
        if self.max_pixels and width * height > self.max_pixels:
            raise DataError(f"{width}x{height} pixels is above the limit of {self.max_pixels} "
                            "(PIL.Image.MAX_IMAGE_PIXELS; raise it to use such images)")

    def read(self, path: Path) -> bytes:
        data = Path(path).read_bytes()
        if data.startswith(b"\xff\xd8\xff"):  # JPEG (any mode Pillow opens is native): no Pillow needed
            if not is_complete(data, "JPEG"):
                raise DataError("the JPEG data is truncated")
            self._check_size(*check_jpeg_header(data))
            return data
        with Image.open(BytesIO(data)) as img:  # parses the header only
            self._check_size(*img.size)
            if not is_complete(data, img.format):
                raise DataError(f"the {img.format} data is truncated")
            if img.format == "PNG":
                check_png_chunks(data)
            if img.mode in _NATIVE.get(img.format, ()):
                return data
            img.load()
            rgb = _to_rgb(img)
        buffer = BytesIO()
        Image.fromarray(rgb).save(buffer, format="BMP")
        return buffer.getvalue()


class BadImageLog:
    """Bad files seen so far (``reasons``: path -> why): each warned about once and counted once, whatever the
    epoch or thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reasons: Dict[str, str] = {}

    def report(self, path: Path, reason: str, consequence: str) -> None:
        with self._lock:
            if str(path) in self.reasons:
                return
            self.reasons[str(path)] = reason
            count = len(self.reasons)
        _logger.warning("Skipping unreadable image %s (%s); %s. %d unreadable so far.", path, reason, consequence,
                        count)


def _placeholder() -> np.ndarray:
    """What an evaluation source yields for a file it leaves out: a 1x1 PNG (its label is -1)."""
    buffer = BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    return np.frombuffer(buffer.getvalue(), np.uint8)


_PLACEHOLDER = _placeholder()


def collect_images(paths: Sequence[str]) -> List[Path]:
    """Image files named directly or found (recursively, sorted) in the given folders."""
    files: List[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if is_image_file(p))
            if not found:
                raise DataError(f"No images (.jpg, .png, .bmp, .tif, .webp, ...) found in folder {path}.")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"Image path not found: {path}.")
    return files


class ImageFolderSource:
    """Random-access source of ``(image bytes, label[, key])`` over ``(file, label)`` samples.

    ``index`` may encode an epoch draw (see ``ShardSampler``): the sample is ``index % len(self)`` and the
    draw seeds the sample's random augmentation through the ``key`` column. With ``replace_bad`` (training) a
    bad file is replaced by the following files (in sample order) until one reads, so every index yields a
    full row; otherwise (evaluation) it yields a 1x1 placeholder with label -1, which ``evaluate`` leaves out.
    """

    def __init__(self, samples: Sequence[Tuple[Path, int]], class_names: Sequence[str], seed: int = 0,
                 emit_key: bool = False, replace_bad: bool = True, reader: Optional[ImageFileReader] = None,
                 bad_images: Optional[BadImageLog] = None):
        self.samples = samples if isinstance(samples, ImageFileList) else list(samples)
        self.class_names = list(class_names)
        self.seed = seed
        self.emit_key = emit_key
        self.replace_bad = replace_bad
        self.reader = reader or ImageFileReader()
        self.bad_images = bad_images or BadImageLog()

    @property
    def skipped(self) -> List[str]:
        """Unreadable files met so far (each once)."""
        return sorted(self.bad_images.reasons)

    def with_keys(self) -> "ImageFolderSource":
        """The same samples, also yielding each draw's augmentation key."""
        return ImageFolderSource(self.samples, self.class_names, self.seed, True, self.replace_bad, self.reader,
                                 self.bad_images)

    def __len__(self) -> int:
        return len(self.samples)

    def __deepcopy__(self, memo: dict) -> "ImageFolderSource":
        # MindSpore copies sources into its pipeline; sharing this one keeps bad-image reports visible to callers.
        return self

    def __getitem__(self, draw: int):
        size = len(self.samples)
        index = int(draw) % size
        for offset in range(size if self.replace_bad else 1):
            path, label = self.samples[(index + offset) % size]
            try:
                image = np.frombuffer(self.reader.read(path), np.uint8)
                break
            except (DataError, *DECODE_ERRORS) as exc:
                self.bad_images.report(path, f"{type(exc).__name__}: {exc}",
                                       "the next readable file of the split takes its place" if self.replace_bad
                                       else "it is left out")
        else:
            if self.replace_bad:
                raise DataError(f"None of the {size} images could be read; the failures were logged above.")
            image, label = _PLACEHOLDER, -1
        row = (image, np.int32(label))
        return row + (np.int64(sample_key(self.seed, int(draw))),) if self.emit_key else row


def find_bad_images(root: Path, decode: bool = True) -> List[str]:
    """Every image file under ``root`` that training would skip (a pre-scan before a long run); each reason is
    logged. With ``decode`` each image is also fully decoded by Pillow, which finds corruption inside the
    image data too (slow: it decodes everything)."""
    reader = ImageFileReader()
    bad = []
    for path in sorted(Path(root).rglob("*")):
        if not is_image_file(path):
            continue
        try:
            data = reader.read(path)
            if decode:
                decode_image(data)
        except (DataError, *DECODE_ERRORS) as exc:
            _logger.warning("%s: %s: %s", path, type(exc).__name__, exc)
            bad.append(str(path))
    return bad


class ArraySource:
    """In-memory grey or RGB images ``(N, H, W[, C])`` with labels, yielded as RGB HWC uint8 (``[, key]``)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], seed: int = 0,
                 emit_key: bool = False):
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels.")
        self.images = images
        self.labels = labels.astype(np.int32)
        self.class_names = list(class_names)
        self.seed = seed
        self.emit_key = emit_key
        self.skipped: List[str] = []

    def with_keys(self) -> "ArraySource":
        return ArraySource(self.images, self.labels, self.class_names, self.seed, True)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, draw: int):
        index = int(draw) % len(self.labels)
        image = self.images[index]
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        row = (np.ascontiguousarray(image), self.labels[index])
        return row + (np.int64(sample_key(self.seed, int(draw))),) if self.emit_key else row


def read_idx(path: Path, expected_ndim: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain."""
    opener: Callable = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} could not be read ({exc}); copy or install it again.") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)) or (expected_ndim is not None and ndim != expected_ndim):
        raise DataError(f"{path} is truncated or has an unexpected shape {dims}.")
    return array.reshape(dims)
