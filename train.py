"""Train a model from a YAML config: ``python train.py -c configs/xception/xception_ascend.yaml --data_dir ...``."""
import os
import signal
import sys

os.environ.setdefault("GLOG_v", "3")
if __name__ == "__main__":
    # Before MindSpore starts a thread: SIGINT / SIGTERM then reach only mindcv's waiting thread, never MindSpore's
    # own handler (which turns Ctrl-C into SIGTERM); see mindcv.engine.signals.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

from mindcv.cli import run_cli  # noqa: E402
from mindcv.engine.loop import TrainingInterrupted  # noqa: E402
from mindcv.engine.runtime import setup_runtime  # noqa: E402
from mindcv.engine.signals import install_worker_guard  # noqa: E402
from mindcv.engine.training import run_training  # noqa: E402
from mindcv.engine.config import ConfigError, dump_config, parse_config  # noqa: E402
from mindcv.utils.logger import console_logging  # noqa: E402

# Exit codes of a run stopped by a signal after saving (the shell's convention: 128 + signal number).
SIGNAL_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def _train(argv) -> int:
    config = parse_config(argv, description=__doc__)
    if config.print_config:
        print(dump_config(config), end="")
        return 0
    if config.resume_opt and not config.ckpt_path:
        raise ConfigError("resume_opt True needs --ckpt_path <checkpoint written by train.py>.")
    runtime = setup_runtime(config.device_target, config.mode, config.jit_level, config.seed, config.distribute)
    try:
        with console_logging(runtime.rank):
            metrics = run_training(config, runtime)
    except TrainingInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return SIGNAL_EXIT_CODES.get(exc.signal_name, 143)
    if metrics:
        print(f"final validation: top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%  "
              f"loss {metrics['loss']:.4f}  ({metrics['num_images']} images)")
    return 0


def main(argv=None) -> int:
    return run_cli(lambda: _train(argv))


if __name__ == "__main__":
    # Data worker processes inherit the mask; a SIGTERM sent to the whole process group (a scheduler stopping the
    # job) is left to this process, which saves first; MindSpore stopping its workers still ends them, and they
    # die with this process whatever ends it.
    install_worker_guard()
    sys.exit(main())
