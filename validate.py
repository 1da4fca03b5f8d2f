"""Evaluate a checkpoint: ``python validate.py -c <config.yaml> --data_dir ... --ckpt_path <file.ckpt>``."""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")

from mindcv.cli import run_cli  # noqa: E402
from mindcv.engine.builder import build_model, build_val_loader, eval_network  # noqa: E402
from mindcv.engine.calibration import TEMPERATURE_RANGE, at_range_edge, plot_reliability  # noqa: E402
from mindcv.engine.config import ConfigError, dump_config, parse_config  # noqa: E402
from mindcv.engine.evaluate import evaluate  # noqa: E402
from mindcv.engine.runtime import setup_runtime  # noqa: E402
from mindcv.engine.serving import checked_on_first_batch, create_runner  # noqa: E402
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint, store_temperature  # noqa: E402
from mindcv.utils.logger import console_logging  # noqa: E402
from mindcv.utils.training_curves import PlotError  # noqa: E402


def _validate(argv) -> int:
    config = parse_config(argv, description=__doc__)
    if config.print_config:
        print(dump_config(config), end="")
        return 0
    if not config.ckpt_path and not config.pretrained:
        raise ConfigError("validate.py needs --ckpt_path <checkpoint file> (or --pretrained True); it never "
                          "evaluates random weights.")
    runtime = setup_runtime(config.device_target, config.mode, config.jit_level, config.seed, config.distribute)
    with console_logging(runtime.rank):
        return _evaluate(config, runtime)


def _evaluate(config, runtime) -> int:
    meta = checkpoint_metadata(read_checkpoint(config.ckpt_path)) if config.ckpt_path else {}
    loader, class_names, batches = build_val_loader(config, runtime)
    trained_classes = json.loads(meta["class_names"]) if "class_names" in meta else None
    if trained_classes is not None and trained_classes != class_names:
        print(f"warning: the checkpoint's class names differ from those of {config.val_split} in "
              f"{config.data_dir or config.dataset}; accuracy may be meaningless.", file=sys.stderr)
    num_classes = config.num_classes or len(trained_classes or class_names)
    model = build_model(config, runtime, num_classes, config.ckpt_path, ema=config.ema)
    network = eval_network(model, config.mean, config.std, config.val_amp_level, config.amp_cast_list)
    scorer, backend = network, ""
    if config.backend != "mindspore":  # (precision bf16 needs openvino: refused when the options are parsed)
        runner = create_runner(config.backend, network, model, config.mean, config.std, config.batch_size,
                               config.image_resize, weights_file=config.ckpt_path or None,
                               cache_dir=config.export_dir or None, precision=config.precision)
        scorer, backend = checked_on_first_batch(runner, network, config.batch_size), \
            f" ({runner.name}, {runner.precision})"
    stored = meta.get("temperature")
    metrics = evaluate(scorer, loader, config.batch_size, runtime.distributed, progress=runtime.is_main,
                       total=batches, calibrate=config.calibrate, temperature=stored)
    if runtime.is_main:
        print(f"validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  loss {metrics['loss']:.4f}  "
              f"ECE {metrics['ece']:.2f}%  {metrics['num_images']} images  {metrics['images_per_second']:.1f} "
              f"images/s{backend}")
        if stored is not None:
            at = metrics["at_temperature"]
            print(f"with the checkpoint's temperature {stored:.4f} (fitted on {meta.get('temperature_fitted_on')}): "
                  f"NLL {at['nll']:.4f}  ECE {at['ece']:.2f}%")
        if config.calibrate:
            _report_calibration(config, metrics, written_by_train="kind" in meta)
    return 0


def _report_calibration(config, metrics, written_by_train: bool) -> None:
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
    store_temperature(config.ckpt_path, temperature, f"{config.data_dir or config.dataset}:{config.val_split}")
    print(f"calibration: temperature stored in {config.ckpt_path}")
    try:
        path = plot_reliability(dict(metrics, temperature=1.0), dict(after, temperature=temperature),
                                Path(config.ckpt_path).resolve().parent / "reliability.png",
                                f"{Path(config.ckpt_path).name} on {config.val_split}")
        print(f"calibration: reliability diagram {path}")
    except PlotError as exc:
        print(f"calibration: no reliability diagram: {exc}", file=sys.stderr)


def main(argv=None) -> int:
    return run_cli(lambda: _validate(argv))


if __name__ == "__main__":
    sys.exit(main())
