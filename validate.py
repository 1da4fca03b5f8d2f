"""Evaluate a checkpoint: ``python validate.py -c <config.yaml> --data_dir ... --ckpt_path <file.ckpt>``.

MindCV's command; the same as ``mindcv-validate`` and ``python -m mindcv.validate`` (:mod:`mindcv.validate`).
"""
import os
import sys

os.environ.setdefault("GLOG_v", "3")

from mindcv.validate import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
