"""How much temperature scaling calibrates the README's main job, judged on images it was not fitted to.

    python benchmarks/calibration.py --ckpt_path runs/xception_fashion_mnist/best.ckpt \\
        --judge_dir /usr/share/datasets/fashion-mnist --json benchmarks/results/calibration.json

The temperature is fitted to the checkpoint's validation images (the main job's 1,000, as ``validate.py
--calibrate`` fits it) and judged on the Fashion-MNIST test images of ``--judge_dir`` that are not among them (the
other 9,000 of Debian's ``dataset-fashion-mnist``; ``apt-get download dataset-fashion-mnist && dpkg -x`` unpacks it
without installing). With 1,000 images the 15-bin ECE is noisy and biased upwards (a bin of 30 images misses its
own accuracy by several points by chance); the 9,000 judge it to a fraction of a point. Beside each ECE stands the
ECE a perfectly calibrated classifier with the same probabilities would show on as many images (the mean over
random draws of its right/wrong outcomes): the floor of what the estimate can show; and the temperature whose
ECE on the 9,000 is lowest, chosen with their labels: what no fitted temperature can beat. Prints a JSON object
and writes it to ``--json``.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name
from mindcv.data.dataset_factory import EMBEDDED_FASHION_MNIST
from mindcv.data.sources import read_idx
from mindcv.engine.calibration import ECE_BINS, calibration_metrics, calibration_sums, fit_temperature
from mindcv.config import parse_config
from mindcv.engine.evaluate import eval_mode, pad_batch
from mindcv.run.builder import build_runtime, build_validation
from mindcv.utils.scores import softmax

CONFIG = ROOT / "configs" / "xception" / "xception_cpu_fashion_mnist.yaml"
FLOOR_DRAWS = 200


def _scores(ckpt_path: str, data_dir: str = ""):
    """Logits and labels of the main job's validation images (or of all test images in ``data_dir``)."""
    import mindspore as ms

    data = ["--data_dir", data_dir, "--val_num_samples", "None"] if data_dir else []
    config = parse_config(["-c", str(CONFIG), "--ckpt_path", ckpt_path, "--device_target", "CPU", *data])
    runtime = build_runtime(config)
    parts = build_validation(config, runtime)
    logits, labels = [], []
    with eval_mode(parts.network):
        for images, batch_labels in parts.loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
            out = parts.network(ms.Tensor(pad_batch(images, config.batch_size))).asnumpy()[:len(batch_labels)]
            logits.append(out.astype(np.float64))
            labels.append(batch_labels)
    return np.concatenate(logits), np.concatenate(labels)


def _not_in_embedded(judge_dir: Path) -> np.ndarray:
    """Which test images of ``judge_dir`` (in file order) are not pixel-for-pixel one of the main job's own."""
    images = read_idx(next(judge_dir.glob("t10k-images-idx3-ubyte*")), 3)
    with np.load(EMBEDDED_FASHION_MNIST) as embedded:
        own = {image.tobytes() for image in embedded["val_images"]}
    return np.array([image.tobytes() not in own for image in images])


def _calibrated_floor(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> float:
    """Mean ECE (%) of a perfectly calibrated classifier with these top-1 probabilities on as many images."""
    confidence = softmax(logits / temperature).max(axis=1)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    total = np.bincount(bins, weights=confidence, minlength=ECE_BINS)
    draws = [np.abs(total - np.bincount(bins, weights=rng.random(len(confidence)) < confidence,
                                        minlength=ECE_BINS)).sum() for _ in range(FLOOR_DRAWS)]
    return float(100.0 * np.mean(draws) / len(confidence))


def _judged(logits, labels, temperature: float, rng) -> dict:
    before = calibration_metrics(calibration_sums(logits, labels))
    after = calibration_metrics(calibration_sums(logits, labels, temperature))
    return {"images_judged": int(len(labels)), "top1": float(100.0 * np.mean(logits.argmax(axis=1) == labels)),
            "nll_before": before["nll"], "nll_after": after["nll"], "ece_before": before["ece"],
            "ece_after": after["ece"], "ece_floor_before": _calibrated_floor(logits, 1.0, rng),
            "ece_floor_after": _calibrated_floor(logits, temperature, rng)}


def _best_single_temperature(logits, labels) -> dict:
    """The temperature of lowest ECE on the judged images themselves (a grid of 1% steps): what no fit could
    beat, so the distance left by the NLL fit is the method's and not the model's."""
    grid = np.exp(np.arange(np.log(0.25), np.log(4.0), 0.01))
    eces = [calibration_metrics(calibration_sums(logits, labels, t))["ece"] for t in grid]
    best = int(np.argmin(eces))
    return {"temperature": float(grid[best]), "ece": float(eces[best])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint of the README's main job")
    parser.add_argument("--judge_dir", required=True, type=Path,
                        help="folder with Fashion-MNIST's t10k-images/labels files (Debian's dataset-fashion-mnist)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rng = np.random.default_rng(0)
    fit_logits, fit_labels = _scores(args.ckpt_path)
    temperature = fit_temperature(lambda t: calibration_sums(fit_logits, fit_labels, t)[0])
    judge_logits, judge_labels = _scores(args.ckpt_path, str(args.judge_dir))
    held_out = _not_in_embedded(args.judge_dir)
    if len(held_out) != len(judge_labels):
        raise SystemExit(f"{args.judge_dir} gave {len(judge_labels)} test images, its file has {len(held_out)}")
    held_out_row = _judged(judge_logits[held_out], judge_labels[held_out], temperature, rng)
    held_out_row["best_single_temperature"] = _best_single_temperature(judge_logits[held_out], judge_labels[held_out])
    result = {"checkpoint": str(args.ckpt_path), "started": started, "cpu": cpu_name(), "temperature": temperature,
              "fitted_on": f"the main job's {len(fit_labels)} validation images",
              "held_out": held_out_row, "fitted_images": _judged(fit_logits, fit_labels, temperature, rng),
              "goal_met": held_out_row["ece_after"] <= held_out_row["ece_before"] / 3}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
