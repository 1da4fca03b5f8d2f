"""What the command-line entry points share: one-line errors with exit code 2, and the weight options."""
import argparse
import re
import sys
from typing import Callable

from .engine.inference import Predictor
from .utils.errors import MindcvError

__all__ = ["run_cli", "add_weight_arguments", "check_weight_arguments", "predictor_from_arguments",
           "EXIT_USER_ERROR"]

EXIT_USER_ERROR = 2
# MindSpore's data pipeline re-raises an exception of a Python source as a RuntimeError holding its text.
_WRAPPED = re.compile(r"\b(?:DataError|CheckpointError|ConfigError|FileWriteError|DownloadError): (.+)")


def run_cli(main: Callable[[], int]) -> int:
    """Run ``main``; a :class:`MindcvError` (also one raised inside MindSpore's data pipeline) is printed as one
    line ``error: ...`` with exit code 2. Other exceptions are bugs and keep their traceback."""
    try:
        return main()
    except MindcvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RuntimeError as exc:
        wrapped = _WRAPPED.search(str(exc))
        if wrapped is None:
            raise
        print(f"error: {wrapped.group(1).strip()}", file=sys.stderr)
        return EXIT_USER_ERROR


def add_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which weights to use: ``--ckpt_path`` or ``--pretrained`` (+ ``--checkpoint``)."""
    parser.add_argument("--model", default="", help="model name (default: from the checkpoint, else xception)")
    parser.add_argument("--ckpt_path", default="", help="a checkpoint written by train.py")
    parser.add_argument("--pretrained", default="", help="a pretrained tag, e.g. mindcv_in1k or keras_in1k")
    parser.add_argument("--checkpoint", default="", help="local file for --pretrained (offline use)")


def check_weight_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of ``--ckpt_path`` / ``--pretrained``: random weights are never used."""
    if bool(args.ckpt_path) == bool(args.pretrained):
        parser.error("pass exactly one of --ckpt_path (your trained checkpoint) or --pretrained TAG; random weights "
                     "are never used.")


def predictor_from_arguments(args: argparse.Namespace, **model_kwargs) -> Predictor:
    """The :class:`~mindcv.engine.inference.Predictor` the weight options name."""
    if args.ckpt_path:
        return Predictor.from_checkpoint(args.ckpt_path, args.model, **model_kwargs)
    return Predictor.from_pretrained(args.model or "xception", args.pretrained, args.checkpoint, **model_kwargs)
