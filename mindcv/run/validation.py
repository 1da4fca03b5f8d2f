"""A whole evaluation behind ``validate.py``: the scores of :func:`~.builder.build_validation`'s parts (with the
checkpoint's temperature, and a fitted one on request).

Callers: :mod:`mindcv.validate` (which prints and stores what this returns) and ``benchmarks/eval_backends.py``
(which times the scorer); :mod:`.training` is the run ``train.py`` drives, beside it.
"""
from typing import Callable, Dict, Optional

import numpy as np

from ..engine.evaluate import evaluate
from .builder import ValidationParts
from .runtime import Runtime

__all__ = ["run_validation"]


def run_validation(runtime: Runtime, parts: ValidationParts,
                   scorer: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> Dict:
    """:func:`~mindcv.engine.evaluate.evaluate`'s metrics of ``parts`` (through ``scorer`` in place of
    ``parts.scorer`` if given), with the checkpoint's temperature applied and, with ``calibrate``, a fitted one.
    With a reference backend (int8: the fp32 export) its metrics follow under ``reference``."""
    metrics = _evaluate(runtime, parts, scorer or parts.scorer, parts.calibrate)
    if parts.reference is not None:
        reference_scorer, name = parts.reference
        metrics["reference"] = dict(_evaluate(runtime, parts, reference_scorer, False), backend=name)
    return metrics


def _evaluate(runtime: Runtime, parts: ValidationParts, scorer, calibrate: bool) -> Dict:
    return evaluate(scorer, parts.loader, parts.batch_size, runtime.distributed, progress=runtime.is_main,
                    total=parts.batches, calibrate=calibrate, temperature=parts.checkpoint_meta.get("temperature"))
