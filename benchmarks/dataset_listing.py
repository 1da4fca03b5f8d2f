"""Start-up of one rank on an ImageNet-sized folder: ours against MindCV 0.3.0's ``create_dataset``.

    python benchmarks/dataset_listing.py --root /tmp/imagenet_shaped --make --rounds 2 \
        --json benchmarks/results/dataset_listing.json

``--make`` builds the folder once: 1,000 class folders x 1,281 files (ImageNet's training split), hard links to 32
JPEGs of 500x375 (a few MB on disk, but 1,281,000 directory entries to list). Each rank of an 8-card job is
measured as a fresh process of its own environment (MindCV's package is also called ``mindcv``:
``benchmarks/make_peer_envs.sh`` builds its venv) making the calls of MindCV's ``train.py``::

    create_dataset(name="imagenet", root=root, split="train", shuffle=True, num_shards=8, shard_id=k,
                   num_parallel_workers=2)
    create_transforms(dataset_name="imagenet", image_resize=299, is_training=True)
    create_loader(dataset, batch_size=32, drop_remainder=True, is_training=True, transform=..., num_classes=1000,
                  num_parallel_workers=2)

and reading one batch. Reported per rank: seconds from the first call to the first batch, and the peak resident
memory of the process (VmHWM). The two packages alternate shard by shard, for ``--rounds`` rounds; the best round
counts.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_name  # benchmarks/machine.py, beside this script

HERE = Path(__file__).resolve().parent
PYTHONS = {"ours": Path(sys.executable), "mindcv030": HERE / ".envs" / "mindcv030" / "bin" / "python"}
CLASSES, PER_CLASS, SOURCES = 1000, 1281, 32

CHILD = """
import json, sys, time
root, shards, shard = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
from mindcv.data import create_dataset, create_loader, create_transforms
start = time.perf_counter()
dataset = create_dataset(name="imagenet", root=root, split="train", shuffle=True, num_shards=shards, shard_id=shard,
                         num_parallel_workers=2)
transform = create_transforms(dataset_name="imagenet", image_resize=299, is_training=True)
loader = create_loader(dataset=dataset, batch_size=32, drop_remainder=True, is_training=True, transform=transform,
                       num_classes=1000, num_parallel_workers=2)
images, labels = next(loader.create_tuple_iterator(num_epochs=1, output_numpy=True))
seconds = time.perf_counter() - start
peak = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps(dict(seconds=seconds, peak_rss_mb=peak / 1024, batch=list(images.shape),
                      batches=loader.get_dataset_size())))
"""


def make_folder(root: Path) -> None:
    """1,000 x 1,281 hard links to 32 JPEGs (ext4 allows 65,000 links per file)."""
    import numpy as np
    from PIL import Image

    sources = root / "_sources"
    sources.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for index in range(SOURCES):
        path = sources / f"{index}.JPEG"
        if not path.exists():
            Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(path, quality=90)
        files.append(path)
    for cls in range(CLASSES):
        folder = root / "train" / f"n{cls:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(PER_CLASS):
            target = folder / f"n{cls:08d}_{index}.JPEG"
            if not target.exists():
                os.link(files[(cls + index) % SOURCES], target)


def measure(package: str, root: Path, shards: int, shard: int) -> dict:
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=str(HERE.parent) if package == "ours" else "")
    proc = subprocess.run([str(PYTHONS[package]), "-c", CHILD, str(root), str(shards), str(shard)], env=env,
                          capture_output=True, text=True, cwd="/")
    if proc.returncode:
        raise SystemExit(f"{package} shard {shard} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--make", action="store_true", help="build the folder first (skips files already there)")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    root = Path(args.root)
    if args.make:
        started = time.perf_counter()
        make_folder(root)
        print(f"folder ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    missing = [name for name, python in PYTHONS.items() if not python.exists()]
    if missing:
        raise SystemExit(f"missing environments {missing}: run benchmarks/make_peer_envs.sh --no-timm")
    rounds = []
    for round_index in range(args.rounds):
        rows = {name: [] for name in PYTHONS}
        for shard in range(args.shards):
            order = list(PYTHONS) if (shard + round_index) % 2 == 0 else list(PYTHONS)[::-1]
            for name in order:
                rows[name].append(measure(name, root, args.shards, shard))
                print(f"round {round_index + 1} shard {shard} {name}: {rows[name][-1]['seconds']:.1f} s, "
                      f"{rows[name][-1]['peak_rss_mb']:.0f} MB", file=sys.stderr)
        rounds.append(rows)
    summary = {}
    for name in PYTHONS:
        best = min(rounds, key=lambda rows: sum(r["seconds"] for r in rows[name]))[name]
        summary[name] = dict(first_batch_seconds_max=max(r["seconds"] for r in best),
                             first_batch_seconds_mean=sum(r["seconds"] for r in best) / len(best),
                             peak_rss_mb_max=max(r["peak_rss_mb"] for r in best),
                             per_shard=best)
    result = dict(benchmark="dataset_listing", cpu=cpu_name(), files=CLASSES * PER_CLASS, classes=CLASSES,
                  shards=args.shards, rounds=args.rounds, load_average=os.getloadavg(), results=summary,
                  all_rounds=rounds)
    for name, row in summary.items():
        print(f"{name:10s} first batch mean {row['first_batch_seconds_mean']:.1f} s, max "
              f"{row['first_batch_seconds_max']:.1f} s; peak RSS max {row['peak_rss_mb_max']:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
