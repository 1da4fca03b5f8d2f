"""Train a model from a YAML config: ``mindcv-train -c configs/xception/xception_ascend.yaml --data_dir ...``
(also ``python -m mindcv.train`` and the repository's ``python train.py``, MindCV's command).

Entry points block SIGINT and SIGTERM in every thread before MindSpore starts one (see
:mod:`mindcv.run.signals`); importing this module has already started MindSpore, so :func:`command` starts the
interpreter again with the signals blocked when its caller did not block them first (``train.py`` does).
"""
import os
import signal
import sys

from .cli import options_and_runtime, run_cli
from .run.loop import TrainingInterrupted
from .run.signals import STOP_SIGNALS, install_worker_guard, stop_signals_blocked
from .run.training import run_training
from .utils.logger import console_logging

# Exit codes of a run stopped by a signal after saving (the shell's convention: 128 + signal number).
SIGNAL_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def _train(argv) -> int:
    started = options_and_runtime(argv, __doc__)
    if started is None:
        return 0
    config, runtime = started
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


def command() -> int:
    """``mindcv-train`` and ``python -m mindcv.train``: the training command, with the stop signals blocked in
    every thread and data workers that die with this process."""
    if not stop_signals_blocked():
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # kept across exec: every thread inherits it
        os.environ.setdefault("GLOG_v", "3")
        os.execv(sys.executable, [sys.executable, "-m", "mindcv.train", *sys.argv[1:]])
    # Data worker processes inherit the mask; a SIGTERM sent to the whole process group (a scheduler stopping the
    # job) is left to this process, which saves first; MindSpore stopping its workers still ends them, and they
    # die with this process whatever ends it.
    install_worker_guard()
    return main()


if __name__ == "__main__":
    sys.exit(command())
