"""Build the class-balanced Fashion-MNIST subset shipped in mindcv/data/embedded/ (reproducible).

Source: Debian's ``dataset-fashion-mnist`` package (MIT). Either install it (``apt-get install
dataset-fashion-mnist``) or unpack it without installing (``apt-get download dataset-fashion-mnist &&
dpkg -x dataset-fashion-mnist_*.deb /tmp/fm``) and pass ``--src /tmp/fm/usr/share/datasets/fashion-mnist``.

    python scripts/build_embedded_fashion_mnist.py --src /usr/share/datasets/fashion-mnist
"""
import argparse
import hashlib
from pathlib import Path

import numpy as np

from mindcv.data.dataset_factory import DEBIAN_FASHION_MNIST, EMBEDDED_FASHION_MNIST
from mindcv.data.sources import read_idx

SEED = 20171007


def balanced_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices: ``per_class`` random samples of every class."""
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=DEBIAN_FASHION_MNIST, help="folder with the *-ubyte.gz files")
    parser.add_argument("--dst", type=Path, default=EMBEDDED_FASHION_MNIST)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    arrays = {}
    for split, prefix, per_class in (("train", "train", args.train_per_class), ("val", "t10k", args.val_per_class)):
        images = read_idx(args.src / f"{prefix}-images-idx3-ubyte.gz", 3)
        labels = read_idx(args.src / f"{prefix}-labels-idx1-ubyte.gz", 1)
        keep = balanced_subset(labels, per_class, rng)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images[keep], labels[keep]
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.dst, **arrays)
    digest = hashlib.sha256(b"".join(arrays[k].tobytes() for k in sorted(arrays))).hexdigest()
    print(f"wrote {args.dst} ({args.dst.stat().st_size / 1e6:.2f} MB): "
          + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()) + f"; content sha256 {digest}")


if __name__ == "__main__":
    main()
