"""Train a model from a YAML config: ``python train.py -c configs/xception/xception_ascend.yaml --data_dir ...``.

MindCV's command; the same as ``mindcv-train`` and ``python -m mindcv.train`` (:mod:`mindcv.train`).
"""
import os
import signal
import sys

os.environ.setdefault("GLOG_v", "3")
if __name__ == "__main__":
    # Before MindSpore starts a thread (importing mindcv starts it): SIGINT / SIGTERM then reach only mindcv's
    # waiting thread, never MindSpore's own handler; see mindcv.run.signals.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

from mindcv.train import SIGNAL_EXIT_CODES, command, main

__all__ = ["main", "SIGNAL_EXIT_CODES"]

if __name__ == "__main__":
    sys.exit(command())
