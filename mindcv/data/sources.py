"""Random-access sample sources that feed MindSpore's ``GeneratorDataset``: image folders and Fashion-MNIST.

Every source yields ``(image, label)`` with ``image`` an RGB ``uint8`` HWC array (grey images become three
channels) and ``label`` an ``int32`` class index.
"""
import gzip
import logging
import threading
from io import BytesIO
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderSource", "ArraySource", "scan_class_names", "find_bad_images",
           "FASHION_MNIST_CLASSES", "read_idx", "DataError"]

_logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")


class DataError(ValueError):
    """A data set folder or file is missing or laid out wrongly."""


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def scan_class_names(split_dir: Path) -> List[str]:
    """Sorted class folder names of ``split_dir``; a flat folder of images raises with layout advice."""
    if not split_dir.is_dir():
        raise DataError(f"Data split folder not found: {split_dir}. Expected <data_dir>/<split>/<class>/<image>.")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        flat = [p for p in split_dir.iterdir() if _is_image(p)]
        if flat:
            raise DataError(f"{split_dir} holds {len(flat)} images but no class sub-folders. Arrange it as "
                            f"{split_dir}/<class_name>/<image> with the same class folder names as the training "
                            "split (for ImageNet's flat validation set, move each image into the folder of its "
                            "synset, e.g. n01440764, using the official validation labels).")
        raise DataError(f"{split_dir} has no class sub-folders and no images.")
    return classes


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes to an RGB uint8 HWC array (raises on corrupt data)."""
    with Image.open(BytesIO(data)) as img:
        img.load()
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


class ImageFolderSource:
    """Images of ``root/<split>/<class>/<file>`` with class indices from ``class_names``.

    A file that cannot be decoded yields an empty image and label -1 (dropped by the dataset's
    filter) after one warning naming it; ``skipped`` lists the files skipped so far.
    """

    def __init__(self, split_dir: Path, class_names: Sequence[str]):
        self.split_dir = Path(split_dir)
        self.class_names = list(class_names)
        present = scan_class_names(self.split_dir)
        unknown = sorted(set(present) - set(self.class_names))
        if unknown:
            raise DataError(f"{self.split_dir} has class folders {unknown[:10]} that the training split does not "
                            f"have; every split must use the training split's class names.")
        self.samples: List[Tuple[Path, int]] = []
        for label, name in enumerate(self.class_names):
            folder = self.split_dir / name
            if folder.is_dir():
                self.samples += [(p, label) for p in sorted(folder.rglob("*")) if _is_image(p)]
        if not self.samples:
            raise DataError(f"No images found under {self.split_dir} (extensions: {', '.join(IMAGE_EXTENSIONS)}).")
        self.skipped: List[str] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.samples)

    def __deepcopy__(self, memo: dict) -> "ImageFolderSource":
        # MindSpore copies sources into its pipeline; sharing this one keeps ``skipped`` visible to callers.
        return self

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.int32]:
        path, label = self.samples[int(index)]
        try:
            image = decode_image(path.read_bytes())
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            with self._lock:
                self.skipped.append(str(path))
                count = len(self.skipped)
            _logger.warning("Skipping unreadable image %s (%s); %d skipped so far.", path, exc, count)
            return np.zeros((0, 0, 3), np.uint8), np.int32(-1)
        return image, np.int32(label)


def find_bad_images(root: Path) -> List[str]:
    """Every image file under ``root`` that cannot be decoded (a pre-scan before a long run)."""
    bad = []
    for path in sorted(Path(root).rglob("*")):
        if _is_image(path):
            try:
                decode_image(path.read_bytes())
            except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
                bad.append(str(path))
    return bad


class ArraySource:
    """In-memory grey or RGB images ``(N, H, W[, C])`` with labels, yielded as RGB HWC uint8."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]):
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels.")
        self.images = images
        self.labels = labels.astype(np.int32)
        self.class_names = list(class_names)
        self.skipped: List[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.int32]:
        image = self.images[int(index)]
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        return np.ascontiguousarray(image), self.labels[int(index)]


def read_idx(path: Path, expected_ndim: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)) or (expected_ndim is not None and ndim != expected_ndim):
        raise DataError(f"{path} is truncated or has an unexpected shape {dims}.")
    return array.reshape(dims)
