"""Training-transform throughput: mindcv's pipeline (1 and 2 workers) vs a plain PIL + numpy loop.

    python benchmarks/data_pipeline.py --images 500 --json benchmarks/data_pipeline.json

Generates a folder of ImageNet-like JPEGs (~500x375, 10 classes) once, then times, at 299 px with the upstream
augmentation (RandomResizedCrop, flip, AutoAugment, normalize, random erasing 0.25), how many images per
second come out of ``create_dataset`` + ``create_transforms`` + ``create_loader`` and out of a
single-process loop doing the same with Pillow and numpy.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mindcv.data import create_dataset, create_loader, create_transforms  # noqa: E402

SIZE = 299
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def make_folder(root: Path, count: int) -> None:
    """``count`` smooth random JPEGs of ~500x375 in 10 class folders (skipped if already there)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        path = root / "train" / f"class{i % 10}" / f"{i}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = int(rng.integers(450, 550)), int(rng.integers(330, 420))
        small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((width, height), Image.BILINEAR).save(path, quality=90)


def pipeline_rate(root: Path, workers: int, batch: int) -> float:
    dataset = create_dataset("imagefolder", str(root), "train", shuffle=True, num_parallel_workers=workers)
    transform = create_transforms("imagenet", True, image_resize=SIZE, auto_augment="autoaug", re_prob=0.25)
    loader = create_loader(dataset, batch, drop_remainder=False, is_training=True, num_classes=10,
                           label_smoothing=0.1, transform=transform, num_parallel_workers=workers)
    iterator = loader.create_tuple_iterator(num_epochs=2, output_numpy=True)
    for _ in iterator:  # warm-up epoch: thread pools, first decode
        pass
    start, images = time.perf_counter(), 0
    for batch_images, _ in iterator:
        images += len(batch_images)
    return images / (time.perf_counter() - start)


def _random_resized_crop(img: Image.Image) -> Image.Image:
    width, height = img.size
    area = width * height
    for _ in range(10):
        target = area * random.uniform(0.08, 1.0)
        aspect = np.exp(random.uniform(np.log(0.75), np.log(1.333)))
        w, h = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = random.randint(0, width - w), random.randint(0, height - h)
            return img.resize((SIZE, SIZE), Image.BILINEAR, box=(left, top, left + w, top + h))
    return img.resize((SIZE, SIZE), Image.BILINEAR)


def _auto_augment_like(img: Image.Image) -> Image.Image:
    """Two PIL operations per image, as an AutoAugment sub-policy applies."""
    ops = [lambda im: ImageOps.posterize(im, 5), lambda im: im.rotate(random.uniform(-30, 30)),
           lambda im: ImageOps.solarize(im, 128), ImageOps.equalize, ImageOps.autocontrast]
    for op in random.sample(ops, 2):
        img = op(img)
    return img


def plain_rate(root: Path, limit: int) -> float:
    files = sorted((root / "train").rglob("*.jpg"))[:limit]
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as img:
            img = _random_resized_crop(img.convert("RGB"))
        if random.random() < 0.5:
            img = ImageOps.mirror(img)
        array = (np.asarray(_auto_augment_like(img), np.float32) - MEAN) / STD
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        if random.random() < 0.25:
            h, w = random.randint(30, 150), random.randint(30, 150)
            top, left = random.randint(0, SIZE - h), random.randint(0, SIZE - w)
            chw[:, top:top + h, left:left + w] = np.random.normal(size=(3, h, w))
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "mindcv_bench_jpegs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    make_folder(args.folder, args.images)
    results = {"plain PIL + numpy loop (1 process)": plain_rate(args.folder, args.images)}
    for workers in (1, 2):
        results[f"mindcv pipeline, {workers} worker(s)"] = pipeline_rate(args.folder, workers, args.batch)
    plain = results["plain PIL + numpy loop (1 process)"]
    print(f"{'pipeline':<40} {'images/s':>10} {'vs plain':>9}")
    for name, rate in results.items():
        print(f"{name:<40} {rate:>10.1f} {rate / plain:>8.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"images": args.images, "size": SIZE, "cpus": os.cpu_count(),
                                         "images_per_second": results}, indent=2))


if __name__ == "__main__":
    main()
