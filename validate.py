"""Evaluate a checkpoint: ``python validate.py -c <config.yaml> --data_dir ... --ckpt_path <file.ckpt>``."""
import json
import os
import sys

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402

from mindcv.data import DataError  # noqa: E402
from mindcv.engine import evaluate, setup_logging, setup_runtime  # noqa: E402
from mindcv.engine.trainer import build_val_loader  # noqa: E402
from mindcv.models import create_model  # noqa: E402
from mindcv.utils.checkpoint import CheckpointError, checkpoint_metadata, read_checkpoint  # noqa: E402
from mindcv.utils.config import ConfigError, parse_config  # noqa: E402
from mindcv.utils.download import DownloadError  # noqa: E402


def main(argv=None) -> int:
    try:
        config = parse_config(argv, description=__doc__)
        runtime = setup_runtime(config.device_target, config.mode, config.jit_level, config.seed, config.distribute)
        setup_logging(None, runtime.rank)
        if not config.ckpt_path and not config.pretrained:
            raise ConfigError("validate.py needs --ckpt_path <checkpoint file> (or --pretrained True); it never "
                              "evaluates random weights.")
        if config.ckpt_path and not os.path.isfile(config.ckpt_path):
            raise CheckpointError(f"Checkpoint file not found: {config.ckpt_path}. Pass the .ckpt written by "
                                  "train.py (e.g. <ckpt_save_dir>/best.ckpt).")
        meta = checkpoint_metadata(read_checkpoint(config.ckpt_path)) if config.ckpt_path else {}
        loader, class_names = build_val_loader(config, runtime)
        if "class_names" in meta and json.loads(meta["class_names"]) != list(class_names):
            print(f"warning: the checkpoint's class names differ from those of {config.val_split} in "
                  f"{config.data_dir or config.dataset}; accuracy may be meaningless.", file=sys.stderr)
        model = create_model(config.model, pretrained=config.pretrained, num_classes=config.num_classes,
                             in_channels=config.in_channels, checkpoint_path=config.ckpt_path, ema=config.ema,
                             drop_rate=config.drop_rate)
        if config.amp_level != "O0":
            ms.amp.auto_mixed_precision(model, config.amp_level)
        metrics = evaluate(model, loader, config.batch_size, runtime.distributed, progress=runtime.is_main)
    except (ConfigError, DataError, CheckpointError, DownloadError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if runtime.is_main:
        print(f"validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  loss {metrics['loss']:.4f}  "
              f"{metrics['num_images']} images  {metrics['images_per_second']:.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
