"""How much temperature scaling calibrates the README's main job, judged on images it was not fitted to.

    python benchmarks/calibration.py --ckpt_path runs/xception_fashion_mnist/best.ckpt \\
        --json benchmarks/results/calibration.json

The checkpoint's validation images (the main job's 1,000) are scored once; the temperature is fitted (as
``validate.py --calibrate`` fits it) to the even-numbered images and judged on the odd ones, and the other way
round; the fit on all of them (what ``validate.py --calibrate`` prints: fitted and judged on the same images)
is reported beside. Prints a JSON object and adds it to ``--json``.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name  # noqa: E402
from mindcv.engine.builder import build_model, build_val_loader, eval_network  # noqa: E402
from mindcv.engine.calibration import calibration_metrics, calibration_sums, fit_temperature  # noqa: E402
from mindcv.engine.config import parse_config  # noqa: E402
from mindcv.engine.evaluate import eval_mode, pad_batch  # noqa: E402
from mindcv.engine.runtime import setup_runtime  # noqa: E402

CONFIG = ROOT / "configs" / "xception" / "xception_cpu_fashion_mnist.yaml"


def _scores(ckpt_path: str):
    """Logits and labels of the main job's validation images under the checkpoint."""
    import mindspore as ms

    config = parse_config(["-c", str(CONFIG), "--ckpt_path", ckpt_path, "--device_target", "CPU"])
    runtime = setup_runtime(config.device_target, config.mode, config.jit_level, config.seed, False)
    loader, _, _ = build_val_loader(config, runtime)
    model = build_model(config, runtime, config.num_classes, ckpt_path)
    network = eval_network(model, config.mean, config.std, config.val_amp_level, config.amp_cast_list)
    logits, labels = [], []
    with eval_mode(network):
        for images, batch_labels in loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
            out = network(ms.Tensor(pad_batch(images, config.batch_size))).asnumpy()[:len(batch_labels)]
            logits.append(out.astype(np.float64))
            labels.append(batch_labels)
    return np.concatenate(logits), np.concatenate(labels)


def _judged(logits, labels, fit_on, judge_on) -> dict:
    temperature = fit_temperature(lambda t: calibration_sums(logits[fit_on], labels[fit_on], t)[0])
    before = calibration_metrics(calibration_sums(logits[judge_on], labels[judge_on]))
    after = calibration_metrics(calibration_sums(logits[judge_on], labels[judge_on], temperature))
    top1 = float(100.0 * np.mean(logits[judge_on].argmax(axis=1) == labels[judge_on]))
    return {"temperature": temperature, "images_judged": int(judge_on.sum()), "top1": top1,
            "nll_before": before["nll"], "nll_after": after["nll"], "ece_before": before["ece"],
            "ece_after": after["ece"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint of the README's main job")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    logits, labels = _scores(args.ckpt_path)
    even = np.arange(len(labels)) % 2 == 0
    folds = [dict(_judged(logits, labels, fit, judge), fitted_on=name)
             for name, fit, judge in (("even", even, ~even), ("odd", ~even, even))]
    everything = np.ones(len(labels), bool)
    result = {"checkpoint": str(args.ckpt_path), "images": int(len(labels)), "started": started, "cpu": cpu_name(),
              "held_out": folds, "fitted_and_judged_on_all": _judged(logits, labels, everything, everything),
              "goal_met": all(f["ece_after"] <= f["ece_before"] / 3 for f in folds)}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
