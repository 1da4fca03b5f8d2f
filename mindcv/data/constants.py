"""Constants of image data shared by data pipelines, models' pretrained configs and the command-line tools."""
import struct
from functools import lru_cache
from pathlib import Path
from typing import List, Tuple

from PIL.Image import DecompressionBombError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INCEPTION_MEAN", "INCEPTION_STD", "IMAGENET_DEFAULT_MEAN",
           "IMAGENET_DEFAULT_STD", "DEFAULT_CROP_PCT", "IMAGE_EXTENSIONS", "DECODE_ERRORS", "FASHION_MNIST_CLASSES",
           "is_image_file", "imagenet_classes", "imagenet_class_names"]

# Normalisation constants in 0-255 pixel units (MindSpore's ``Normalize`` convention).
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
INCEPTION_MEAN = (127.5, 127.5, 127.5)
INCEPTION_STD = (127.5, 127.5, 127.5)
IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD = list(IMAGENET_MEAN), list(IMAGENET_STD)  # MindCV's names (lists)
DEFAULT_CROP_PCT = 0.875

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")

# What Pillow raises for a file that is not a readable image: OSError (UnidentifiedImageError included), the
# decompression-bomb error for huge sizes and, for damaged headers or data, the others (measured by corrupting
# JPEG, PNG, BMP and TIFF files at random).
DECODE_ERRORS = (OSError, DecompressionBombError, EOFError, ValueError, SyntaxError, TypeError, IndexError,
                 KeyError, ZeroDivisionError, struct.error)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")


def is_image_file(path) -> bool:
    """A visible regular file with an image extension (any case)."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


@lru_cache(maxsize=1)
def imagenet_classes() -> Tuple[Tuple[str, str], ...]:
    """The 1000 ImageNet-1K classes in index order: (WordNet id, first lemma of the synset)."""
    lines = (Path(__file__).resolve().parent / "imagenet_classes.tsv").read_text(encoding="utf-8").splitlines()
    return tuple((wnid, names.split(",")[0].strip()) for wnid, names in (line.split("\t", 1) for line in lines))


def imagenet_class_names() -> List[str]:
    """The 1000 ImageNet-1K class names in index order."""
    return [name for _, name in imagenet_classes()]
