"""What the command-line entry points share: one-line errors with exit code 2, the process-wide settings a command
owns (put back when it ends), and the weight options."""
import argparse
import random
import re
import sys
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator, Optional, Tuple

import mindspore as ms
import mindspore.dataset as ds
import numpy as np

from .config import resolve_options
from .models.hub import hub_config, is_hub_source
from .run.builder import build_runtime
from .run.runtime import Runtime
from .serving.inference import Predictor
from .utils.errors import MindcvError
from .utils.logger import console_logging

__all__ = ["run_cli", "options_and_runtime", "restored_process_state", "add_weight_arguments", "check_weight_arguments",
           "predictor_from_arguments", "EXIT_USER_ERROR"]

EXIT_USER_ERROR = 2
# MindSpore's data pipeline re-raises an exception of a Python source as a RuntimeError holding its text.
_WRAPPED = re.compile(r"\b(?:DataError|CheckpointError|ConfigError|FileWriteError|DownloadError): (.+)")


@contextmanager
def restored_process_state() -> Iterator[None]:
    """What a command sets for the whole process (MindSpore's execution mode and seed, the dataset engine's seed
    and queue size, numpy's and Python's random state) is put back when it ends, so that calling a command's
    ``main()`` from Python leaves the caller's process as it was. (The device, once chosen, stays.)"""
    mode, seed = ms.get_context("mode"), ms.get_seed()
    pipeline = ds.config.get_seed(), ds.config.get_prefetch_size()
    generators = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        ms.set_context(mode=mode)
        if seed is not None:
            ms.set_seed(seed)
        ds.config.set_seed(pipeline[0])
        ds.config.set_prefetch_size(pipeline[1])
        np.random.set_state(generators[0])
        random.setstate(generators[1])


def run_cli(main: Callable[[], int], log_level: Optional[int] = None) -> int:
    """Run ``main`` with :func:`restored_process_state` (and, given ``log_level``, the ``mindcv`` loggers printing
    at that level); a :class:`MindcvError` (also one raised inside MindSpore's data pipeline) is printed as one
    line ``error: ...`` with exit code 2. Other exceptions are bugs and keep their traceback."""
    try:
        with restored_process_state(), console_logging(level=log_level) if log_level else nullcontext():
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


def options_and_runtime(argv, doc: str) -> Optional[Tuple[argparse.Namespace, Runtime]]:
    """How ``train.py`` and ``validate.py`` start: the options resolved from ``argv`` (the command's ``doc`` heads
    its ``--help``) and the runtime they ask for; None once ``--print_config`` has printed them instead."""
    config = resolve_options(argv, doc.split("\n\n")[0])
    return None if config is None else (config, build_runtime(config))

def add_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which weights to use: ``--ckpt_path`` or ``--pretrained`` (+ ``--checkpoint``)."""
    parser.add_argument("--model", default="", help="model name (default: from the checkpoint, else xception)")
    parser.add_argument("--ckpt_path", default="", help="a checkpoint written by train.py")
    parser.add_argument("--pretrained", default="", help="a pretrained tag, e.g. mindcv_in1k or keras_in1k; "
                                                         "hf-hub:ORG/NAME or a folder exported for the Hub")
    parser.add_argument("--checkpoint", default="", help="local file for --pretrained (offline use)")


def check_weight_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of ``--ckpt_path`` / ``--pretrained``: random weights are never used."""
    if bool(args.ckpt_path) == bool(args.pretrained):
        parser.error("pass exactly one of --ckpt_path (your trained checkpoint) or --pretrained TAG; random weights "
                     "are never used.")


DEFAULT_MODEL = "xception"  # what --model means when neither it nor the checkpoint names one


def predictor_from_arguments(args: argparse.Namespace, **model_kwargs) -> Predictor:
    """The :class:`~mindcv.serving.inference.Predictor` the weight options name."""
    if args.ckpt_path:
        return Predictor.from_checkpoint(args.ckpt_path, args.model, DEFAULT_MODEL, **model_kwargs)
    model = args.model or DEFAULT_MODEL
    if not args.model and is_hub_source(args.pretrained):  # the architecture the exported weights name
        model = hub_config(args.pretrained)["architecture"]
    return Predictor.from_pretrained(model, args.pretrained, args.checkpoint, **model_kwargs)
