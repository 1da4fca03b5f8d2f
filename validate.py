"""Evaluate a checkpoint: ``python validate.py -c <config.yaml> --data_dir ... --ckpt_path <file.ckpt>``."""
import json
import os
import sys

os.environ.setdefault("GLOG_v", "3")

from mindcv.cli import run_cli  # noqa: E402
from mindcv.engine.builder import build_model, build_val_loader, eval_network  # noqa: E402
from mindcv.engine.config import ConfigError, dump_config, parse_config  # noqa: E402
from mindcv.engine.evaluate import evaluate  # noqa: E402
from mindcv.engine.runtime import setup_runtime  # noqa: E402
from mindcv.engine.serving import checked_on_first_batch, create_runner  # noqa: E402
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint  # noqa: E402
from mindcv.utils.logger import console_logging  # noqa: E402


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
    metrics = evaluate(scorer, loader, config.batch_size, runtime.distributed, progress=runtime.is_main,
                       total=batches)
    if runtime.is_main:
        print(f"validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  loss {metrics['loss']:.4f}  "
              f"{metrics['num_images']} images  {metrics['images_per_second']:.1f} images/s{backend}")
    return 0


def main(argv=None) -> int:
    return run_cli(lambda: _validate(argv))


if __name__ == "__main__":
    sys.exit(main())
