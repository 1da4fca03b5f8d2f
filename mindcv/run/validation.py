"""A whole evaluation behind ``validate.py``: the checkpoint's metadata, the loader, the model behind the chosen
backend, and the scores (with the checkpoint's temperature, and a fitted one on request).

Callers: :mod:`mindcv.validate` (which prints and stores what this returns) and ``benchmarks/eval_backends.py``
(which times the scorer); :mod:`.training` is the run ``train.py`` drives, beside it.
"""
import json
import logging
from argparse import Namespace
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from ..engine.evaluate import evaluate
from ..serving.backends import checked_on_first_batch, create_runner
from ..utils.checkpoint import checkpoint_metadata, read_checkpoint
from ..utils.errors import ConfigError
from .builder import build_model, build_val_loader, eval_network
from .runtime import Runtime

__all__ = ["ValidationParts", "build_validation", "run_validation"]

_logger = logging.getLogger(__name__)


@dataclass
class ValidationParts:
    """What an evaluation is made of, built."""
    loader: object
    batches: int
    class_names: List[str]
    model: object
    network: object  # the model behind its input normalisation, in MindSpore
    scorer: object  # ``network`` itself, or a function of uint8 batches (an exported backend, checked)
    backend: str  # "" for MindSpore, else the runner's name and precision
    checkpoint_meta: Dict[str, str]


def build_validation(config: Namespace, runtime: Runtime) -> ValidationParts:
    """The parts of ``config``'s evaluation; a checkpoint trained on other class names is warned about."""
    if not config.ckpt_path and not config.pretrained:
        raise ConfigError("validate.py needs --ckpt_path <checkpoint file> (or --pretrained True); it never "
                          "evaluates random weights.")
    meta = checkpoint_metadata(read_checkpoint(config.ckpt_path)) if config.ckpt_path else {}
    loader, class_names, batches = build_val_loader(config, runtime)
    trained_classes = json.loads(meta["class_names"]) if "class_names" in meta else None
    if trained_classes is not None and trained_classes != class_names:
        _logger.warning("the checkpoint's class names differ from those of %s in %s; accuracy may be meaningless.",
                        config.val_split, config.data_dir or config.dataset)
    num_classes = config.num_classes or len(trained_classes or class_names)
    model = build_model(config, runtime, num_classes, config.ckpt_path, ema=config.ema)
    network = eval_network(model, config.mean, config.std, config.val_amp_level, config.amp_cast_list)
    scorer, backend = network, ""
    if config.backend != "mindspore":  # (precision bf16 needs openvino: refused when the options are parsed)
        runner = create_runner(config.backend, network, model, config.mean, config.std, config.batch_size,
                               config.image_resize, weights_file=config.ckpt_path or None,
                               cache_dir=config.export_dir or None, precision=config.precision)
        scorer = checked_on_first_batch(runner, network, config.batch_size)
        backend = f"{runner.name}, {runner.precision}"
    return ValidationParts(loader, batches, class_names, model, network, scorer, backend, meta)


def run_validation(config: Namespace, runtime: Runtime, parts: ValidationParts,
                   scorer: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> Dict:
    """:func:`~.evaluate.evaluate`'s metrics of ``parts`` (through ``scorer`` in place of ``parts.scorer`` if
    given), with the checkpoint's temperature applied and, with ``calibrate``, a fitted one."""
    return evaluate(scorer or parts.scorer, parts.loader, config.batch_size, runtime.distributed,
                    progress=runtime.is_main, total=parts.batches, calibrate=config.calibrate,
                    temperature=parts.checkpoint_meta.get("temperature"))
