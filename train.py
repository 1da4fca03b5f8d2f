"""Train a model from a YAML config: ``python train.py -c configs/xception/xception_ascend.yaml --data_dir ...``."""
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")

from mindcv.data import DataError  # noqa: E402
from mindcv.engine import Trainer, TrainingInterrupted, TrainingStopped, setup_logging, setup_runtime  # noqa: E402
from mindcv.utils.checkpoint import CheckpointError  # noqa: E402
from mindcv.utils.config import ConfigError, parse_config  # noqa: E402
from mindcv.utils.download import DownloadError  # noqa: E402

_logger = logging.getLogger("mindcv.train")


def main(argv=None) -> int:
    try:
        config = parse_config(argv, description=__doc__)
        runtime = setup_runtime(config.device_target, config.mode, config.jit_level, config.seed, config.distribute)
        log_name = "train.log" if runtime.rank == 0 else f"train_rank{runtime.rank}.log"
        setup_logging(Path(config.ckpt_save_dir) / log_name, runtime.rank)
        trainer = Trainer(config, runtime)
        if config.resume_opt:
            if not config.ckpt_path:
                raise ConfigError("resume_opt True needs --ckpt_path <checkpoint written by train.py>.")
            trainer.resume(config.ckpt_path)
        _logger.info("Training %s on %s: %d steps per epoch, %d epochs, batch %d x %d device(s); rank %d, pid %d.",
                     config.model, runtime.device_target, trainer.steps_per_epoch, config.epoch_size,
                     config.batch_size, runtime.group_size, runtime.rank, os.getpid())
        metrics = trainer.train()
    except TrainingInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 130 if trainer.stop_signal == "SIGINT" else 0
    except (ConfigError, DataError, CheckpointError, DownloadError, TrainingStopped, ValueError,
            RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if metrics:
        print(f"final validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  "
              f"loss {metrics['loss']:.4f}  ({metrics['num_images']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
