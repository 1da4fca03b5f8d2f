"""Training data pipeline throughput: ours against MindCV 0.3.0's and against a plain Pillow loop.

    python benchmarks/data_pipeline.py --images 320 --rounds 2 --json benchmarks/results/data_pipeline.json

Generates photo-like JPEGs (~500x375, 10 classes) once, then measures images/s out of the training pipeline at 299
px, batch 32, for two augmentations: the Xception recipe (RandomResizedCrop, flip, AutoAugment, random erasing
0.25) and plain RandomResizedCrop + flip. Ours and MindCV 0.3.0 are driven by the same three factory calls,
``create_dataset("imagenet", ...)`` + ``create_transforms("imagenet", 299, is_training=True, ...)`` +
``create_loader(...)``, with 1 and 2 workers, each in a fresh process of its own environment (MindCV's package is
also called ``mindcv``: ``benchmarks/make_peer_envs.sh`` builds its venv). MindCV is measured as its train.py calls
them (defaults) and, for the recipe, also with ``python_multiprocessing=True``. Ours is measured as our train.py
calls them (uint8 images normalised on the device, ``python_multiprocessing=True``, the pipeline queue capacity
train.py sets) and with MindCV's calls (normalised in the pipeline, threads). The plain loop decodes, crops, flips
(and for the recipe applies two PIL operations and erasing) image by image in one process. Rows are interleaved
and repeated ``--rounds`` times; the best round counts. Each pipeline is timed over ``--epochs`` epochs after a
warm-up epoch. Also printed: images/s per worker, the CPU time per image (all threads of the process and of its
worker processes, measured over the timed epochs), and from each how many workers / cores one rank needs for the
384 images/s per rank of the published recipe (3,069 images/s on 8 cards).
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

from machine import cpu_name  # benchmarks/machine.py, beside this script

HERE = Path(__file__).resolve().parent
MINDCV_PYTHON = HERE / ".envs" / "mindcv030" / "bin" / "python"
SIZE, BATCH, RECIPE_RATE_PER_RANK = 299, 32, 3069 / 8
AUGMENTATIONS = {"recipe": dict(auto_augment="autoaug", re_prob=0.25), "plain": {}}


def make_folder(root: Path, count: int) -> None:
    """``count`` photo-like JPEGs of ~500x375 (smooth colour fields with noise) in 10 class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        path = root / "train" / f"class{i % 10}" / f"{i}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = int(rng.integers(450, 550)), int(rng.integers(330, 420))
        small = rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), np.float32)
        image += rng.normal(0, 12, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def _live_descendants_cpu_seconds() -> float:
    """CPU time so far of the running descendants of this process (MindSpore's worker processes), from /proc."""
    parents, ticks = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    total, own = 0, os.getpid()
    for pid in ticks:
        ancestor = parents[pid]
        while ancestor not in (own, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += ticks[pid] if ancestor == own and pid != own else 0
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its children, running or finished."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + _live_descendants_cpu_seconds())


def _loader_rate(root: str, workers: int, augmentation: str, calls: str, epochs: int) -> Tuple[float, float]:
    """Runs inside the measured environment: the three factory calls (``calls``: ``train.py`` as our train.py
    makes them, ``defaults`` as MindCV's train.py makes them, ``processes`` the same with
    ``python_multiprocessing=True``), one warm-up epoch, ``epochs`` timed epochs (a short epoch's start and drain
    would otherwise weigh on the rate); returns images/s and CPU ms per image of the process and its children."""
    from mindcv.data import create_dataset, create_loader, create_transforms

    if calls == "train.py":
        import mindspore.dataset as ds
        from mindcv.run.builder import TRAINING_QUEUE_CAPACITY
        ds.config.set_prefetch_size(TRAINING_QUEUE_CAPACITY)  # as train.py (build_training) sets it
    dataset = create_dataset("imagenet", root, "train", shuffle=True, num_parallel_workers=workers)
    extra = {"normalize": False} if calls == "train.py" else {}
    transform = create_transforms("imagenet", SIZE, is_training=True, **AUGMENTATIONS[augmentation], **extra)
    loader = create_loader(dataset, BATCH, drop_remainder=True, is_training=True, num_classes=10,
                           transform=transform, num_parallel_workers=workers,
                           python_multiprocessing=calls != "defaults")
    iterator = loader.create_tuple_iterator(num_epochs=epochs + 1, output_numpy=True)
    for _ in iterator:  # warm-up epoch (each pass over a MindSpore iterator is one epoch): thread pools, page cache
        pass
    start, cpu = time.perf_counter(), _cpu_seconds()
    images = sum(len(batch[0]) for _ in range(epochs) for batch in iterator)
    return images / (time.perf_counter() - start), (_cpu_seconds() - cpu) * 1e3 / images


def _plain_rate(root: str, augmentation: str) -> Tuple[float, float]:
    import numpy as np
    from PIL import Image, ImageOps

    mean, std = np.float32([123.675, 116.28, 103.53]), np.float32([58.395, 57.12, 57.375])
    files = sorted(Path(root, "train").rglob("*.jpg"))
    start, cpu = time.perf_counter(), _cpu_seconds()
    for path in files:
        with Image.open(path) as img:
            img.draft("RGB", (SIZE, SIZE))  # Pillow's JPEG draft mode: decode at a reduced scale when it can
            img = img.convert("RGB")
        width, height = img.size
        scale, ratio = random.uniform(0.08, 1.0), np.exp(random.uniform(np.log(3 / 4), np.log(4 / 3)))
        w = min(width, int(round(np.sqrt(width * height * scale * ratio))))
        h = min(height, int(round(np.sqrt(width * height * scale / ratio))))
        left, top = random.randint(0, width - w), random.randint(0, height - h)
        img = img.resize((SIZE, SIZE), Image.BILINEAR, box=(left, top, left + w, top + h))
        if random.random() < 0.5:
            img = ImageOps.mirror(img)
        if augmentation == "recipe":
            img = ImageOps.equalize(img.rotate(random.uniform(-30, 30)))  # two ops, as one AutoAugment sub-policy
        chw = np.ascontiguousarray(((np.asarray(img, np.float32) - mean) / std).transpose(2, 0, 1))
        if augmentation == "recipe" and random.random() < 0.25:
            eh, ew = random.randint(30, 150), random.randint(30, 150)
            chw[:, :eh, :ew] = np.random.normal(size=(3, eh, ew))
    return len(files) / (time.perf_counter() - start), (_cpu_seconds() - cpu) * 1e3 / len(files)


def _measure(python: str, args: list) -> Tuple[float, float]:
    env = dict(os.environ, GLOG_v="3", PYTHONPATH="" if python == str(MINDCV_PYTHON) else str(HERE.parent))
    done = subprocess.run([python, __file__, "--worker", *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    rate, cpu_ms = done.stdout.strip().splitlines()[-1].split()
    return float(rate), float(cpu_ms)


def rows(root: Path, with_mindcv: bool, epochs: int):
    """(augmentation, label, python, worker args, workers) for every measured configuration."""
    ours = sys.executable
    for augmentation in AUGMENTATIONS:
        for workers in (1, 2):
            yield (augmentation, f"ours as train.py runs it (uint8, normalised on device), {workers} worker(s)", ours,
                   ["loader", root, workers, augmentation, "train.py", epochs], workers)
            yield (augmentation, f"ours with MindCV's calls (normalised in the pipeline), {workers} worker(s)", ours,
                   ["loader", root, workers, augmentation, "defaults", epochs], workers)
            if with_mindcv:
                yield (augmentation, f"MindCV 0.3.0, {workers} worker(s)", str(MINDCV_PYTHON),
                       ["loader", root, workers, augmentation, "defaults", epochs], workers)
                if augmentation == "recipe":  # the plain pipeline has no Python transform to run in processes
                    yield (augmentation, f"MindCV 0.3.0, python_multiprocessing, {workers} worker(s)",
                           str(MINDCV_PYTHON), ["loader", root, workers, augmentation, "processes", epochs], workers)
        yield (augmentation, "plain Pillow loop (draft-mode decode), 1 process", ours,
               ["plain", root, 0, augmentation, "", 1], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "mindcv_bench_jpegs")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per pipeline measurement")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, root, workers, augmentation, calls, epochs = args.worker
        rate, cpu_ms = (_plain_rate(root, augmentation) if kind == "plain"
                        else _loader_rate(root, int(workers), augmentation, calls, int(epochs)))
        print(rate, cpu_ms)
        return
    make_folder(args.folder, args.images)
    with_mindcv = MINDCV_PYTHON.is_file()
    if not with_mindcv:
        print(f"MindCV 0.3.0 environment missing ({MINDCV_PYTHON}); run benchmarks/make_peer_envs.sh", file=sys.stderr)
    plan = list(rows(str(args.folder), with_mindcv, args.epochs))
    best = {}
    for round_index in range(args.rounds):
        for augmentation, label, python, worker_args, _workers in plan:
            rate, cpu_ms = _measure(python, worker_args)
            key = (augmentation, label)
            best[key] = max(best.get(key, (0.0, 0.0)), (rate, cpu_ms))
            print(f"round {round_index + 1}: {augmentation:6s} {label}: {rate:.1f} images/s, {cpu_ms:.2f} CPU ms "
                  "per image", file=sys.stderr)
    print(f"{args.images} JPEGs ~500x375, {SIZE} px, batch {BATCH}, {args.epochs} timed epochs, best of "
          f"{args.rounds} interleaved rounds, "
          f"{os.cpu_count()} CPUs ({cpu_name()})")
    print("| augmentation | pipeline | images/s | per worker | workers for 384 img/s | CPU ms per image "
          "| cores for 384 img/s | vs MindCV |")
    print("| --- " * 8 + "|")
    table = []
    for augmentation, label, _, _, workers in plan:
        rate, cpu_ms = best[(augmentation, label)]
        peer = best.get((augmentation, f"MindCV 0.3.0, {workers} worker(s)"), (0.0, 0.0))[0]
        per_worker = rate / workers
        versus = f"{rate / peer:.2f}x" if peer and not label.startswith("MindCV") else ""
        print(f"| {augmentation} | {label} | {rate:.0f} | {per_worker:.0f} | {RECIPE_RATE_PER_RANK / per_worker:.1f} "
              f"| {cpu_ms:.2f} | {RECIPE_RATE_PER_RANK * cpu_ms / 1e3:.1f} | {versus} |")
        table.append(dict(augmentation=augmentation, pipeline=label, images_per_second=round(rate, 1),
                          per_worker=round(per_worker, 1), cpu_ms_per_image=round(cpu_ms, 2),
                          vs_mindcv=round(rate / peer, 2) if versus else None))
    if args.json:
        args.json.write_text(json.dumps({"images": args.images, "size": SIZE, "batch": BATCH, "rounds": args.rounds,
                                         "timed_epochs": args.epochs,
                                         "cpus": os.cpu_count(), "rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
