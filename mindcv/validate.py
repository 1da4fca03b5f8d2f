"""Evaluate a checkpoint: ``mindcv-validate -c <config.yaml> --data_dir ... --ckpt_path <file.ckpt>`` (also
``python -m mindcv.validate`` and the repository's ``python validate.py``, MindCV's command)."""
import sys
from pathlib import Path

from .cli import options_and_runtime, run_cli
from .engine.calibration import TEMPERATURE_RANGE, at_range_edge, plot_reliability
from .run.builder import build_validation
from .run.validation import run_validation
from .utils.checkpoint import store_temperature
from .utils.logger import console_logging
from .utils.training_curves import PlotError


INT8_WARNING_POINTS = 1.0  # int8's top-1 loss against the fp32 export that is worth a warning


def _validate(argv) -> int:
    started = options_and_runtime(argv, __doc__)
    if started is None:
        return 0
    config, runtime = started
    with console_logging(runtime.rank):
        parts = build_validation(config, runtime)
        metrics = run_validation(runtime, parts)
        if runtime.is_main:
            _report(parts, metrics)
    return 0


def _report(parts, metrics) -> None:
    backend = f" ({parts.backend})" if parts.backend else ""
    print(f"validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  loss {metrics['loss']:.4f}  "
          f"ECE {metrics['ece']:.2f}%  {metrics['num_images']} images  {metrics['images_per_second']:.1f} "
          f"images/s{backend}")
    if "reference" in metrics:
        reference = metrics["reference"]
        print(f"reference ({reference['backend']}): top-1 {reference['top1']:.2f}%  top-5 {reference['top5']:.2f}%  "
              f"loss {reference['loss']:.4f}; top-1 difference {metrics['top1'] - reference['top1']:+.2f} points")
        if reference["top1"] - metrics["top1"] > INT8_WARNING_POINTS:
            print(f"warning: int8 loses {reference['top1'] - metrics['top1']:.2f} points of top-1: calibrate on more "
                  "images, and on images like these (--calibration_dir, --calibration_size).", file=sys.stderr)
    meta = parts.checkpoint_meta
    if "temperature" in meta:
        at = metrics["at_temperature"]
        print(f"with the checkpoint's temperature {meta['temperature']:.4f} (fitted on "
              f"{meta.get('temperature_fitted_on')}): NLL {at['nll']:.4f}  ECE {at['ece']:.2f}%")
    if parts.calibrate:
        _report_calibration(parts, metrics, written_by_train="kind" in meta)


def _report_calibration(parts, metrics, written_by_train: bool) -> None:
    """Print the fitted temperature, store it in the checkpoint (one of train.py's: a published file keeps its
    hash) and draw the reliability diagram beside it."""
    after, temperature = metrics["calibrated"], metrics["temperature"]
    print(f"calibration: temperature {temperature:.4f}  NLL {metrics['nll']:.4f} -> {after['nll']:.4f}  "
          f"ECE {metrics['ece']:.2f}% -> {after['ece']:.2f}% (fitted to these {metrics['num_images']} images: judge "
          "it on another split)")
    if at_range_edge(temperature):
        print(f"calibration: warning: the temperature stopped at the end of its range {TEMPERATURE_RANGE}: these "
              "images cannot pin it down (are they all classified right?); calibrate on a harder or larger split.",
              file=sys.stderr)
    if not written_by_train:
        print("calibration: not stored: only checkpoints written by train.py carry a temperature (a published "
              "file keeps its hash).", file=sys.stderr)
        return
    store_temperature(parts.checkpoint, temperature, parts.split)
    print(f"calibration: temperature stored in {parts.checkpoint}")
    try:
        path = plot_reliability(dict(metrics, temperature=1.0), dict(after, temperature=temperature),
                                Path(parts.checkpoint).resolve().parent / "reliability.png",
                                f"{Path(parts.checkpoint).name} on {parts.split}")
        print(f"calibration: reliability diagram {path}")
    except PlotError as exc:
        print(f"calibration: no reliability diagram: {exc}", file=sys.stderr)


def main(argv=None) -> int:
    return run_cli(lambda: _validate(argv))


if __name__ == "__main__":
    sys.exit(main())
