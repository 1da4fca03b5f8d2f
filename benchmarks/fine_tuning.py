"""Does fine-tuning transfer? Xception trained on five Fashion-MNIST classes, fine-tuned on the other five from a
few hundred images with ``configs/xception/xception_finetune.yaml``, against the same training from scratch.

    python benchmarks/fine_tuning.py --work_dir /tmp/transfer --json benchmarks/results/fine_tuning.json

The images are the package's embedded Fashion-MNIST subset, written as image folders: A holds the training and
validation images of classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat), B ``--per_class`` training
images of each of classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) and all their validation images. A model
is trained on A with the README's main-job recipe; then B is trained twice with the fine-tuning config, the same
steps and options, once from A's best checkpoint and once from random weights. Prints a JSON object (top-1 on B's
validation images after every epoch, for both) and writes it to ``--json``.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name
from mindcv.data.constants import FASHION_MNIST_CLASSES
from mindcv.data.dataset_factory import EMBEDDED_FASHION_MNIST

MAIN_JOB = ROOT / "configs" / "xception" / "xception_cpu_fashion_mnist.yaml"
FINE_TUNE = ROOT / "configs" / "xception" / "xception_finetune.yaml"
GREY = ["--mean", "[72.9, 72.9, 72.9]", "--std", "[90.0, 90.0, 90.0]"]  # the main job's normalisation


def write_folders(root: Path, per_class: int) -> None:
    """A (classes 0-4, all images) and B (classes 5-9, ``per_class`` training images each) as image folders."""
    with np.load(EMBEDDED_FASHION_MNIST) as data:
        arrays = {split: (data[f"{split}_images"], data[f"{split}_labels"]) for split in ("train", "val")}
    for part, classes in (("A", range(0, 5)), ("B", range(5, 10))):
        for split, (images, labels) in arrays.items():
            for label in classes:
                folder = root / part / split / FASHION_MNIST_CLASSES[label].replace("/", "_")
                folder.mkdir(parents=True, exist_ok=True)
                chosen = np.flatnonzero(labels == label)
                if part == "B" and split == "train":
                    chosen = chosen[:per_class]
                for index in chosen:
                    Image.fromarray(images[index]).convert("RGB").save(folder / f"{index}.png")


def train(log: Path, *args) -> list:
    """Run train.py; the validation top-1 after each epoch."""
    with open(log, "w") as out:
        code = subprocess.run([sys.executable, str(ROOT / "train.py"), *[str(a) for a in args]], cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"train.py failed ({code}); see {log}")
    run = Path(args[args.index("--ckpt_save_dir") + 1])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [round(row["val_top1"], 2) for row in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", required=True, help="image folders, runs and logs go here (must not exist)")
    parser.add_argument("--per_class", type=int, default=60, help="training images per class of B")
    parser.add_argument("--pretrain_epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning (and from-scratch) epochs on B")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_folders(work / "data", args.per_class)
    common = ["--dataset", "imagefolder", "--num_classes", "5", "--val_num_samples", "null"]
    pretrained = train(work / "A.log", "-c", MAIN_JOB, *common, "--data_dir", work / "data" / "A", "--epoch_size",
                       args.pretrain_epochs, "--decay_epochs", args.pretrain_epochs, "--ckpt_save_dir",
                       work / "runs" / "A")
    on_b = [*common, "-c", FINE_TUNE, "--data_dir", work / "data" / "B", "--pretrained", "False", *GREY,
            "--image_resize", "71", "--crop_pct", "1.0", "--batch_size", "32", "--epoch_size", args.epochs,
            "--decay_epochs", args.epochs - 1, "--num_parallel_workers", "2"]
    fine_tuned = train(work / "B_fine_tuned.log", *on_b, "--ckpt_path", work / "runs" / "A" / "best.ckpt",
                       "--ckpt_save_dir", work / "runs" / "B_fine_tuned")
    scratch = train(work / "B_scratch.log", *on_b, "--ckpt_save_dir", work / "runs" / "B_scratch")
    result = {"started": started, "cpu": cpu_name(), "per_class": args.per_class,
              "b_training_images": 5 * args.per_class, "pretrain_epochs": args.pretrain_epochs,
              "epochs": args.epochs, "a_top1_per_epoch": pretrained, "fine_tuned_top1_per_epoch": fine_tuned,
              "scratch_top1_per_epoch": scratch}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
