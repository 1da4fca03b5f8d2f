"""The process's random seeds, and facts about the running MindSpore build that users should hear about once."""
import logging
import random
from typing import Optional

import mindspore as ms
import numpy as np
from packaging.version import Version

__all__ = ["set_seed", "warn_if_slow_cpu_build", "SLOW_CPU_VERSION"]

_logger = logging.getLogger(__name__)
SLOW_CPU_VERSION = Version("2.9")
_warned = False


def set_seed(seed: int = 42, rank: Optional[int] = 0) -> None:
    """Seed Python's, numpy's and MindSpore's generators (MindSpore's seed also seeds its dataset engine) with
    ``seed + rank``; MindCV's function."""
    value = seed + (rank or 0)
    random.seed(value)
    np.random.seed(value % (1 << 32))
    ms.set_seed(value)


def warn_if_slow_cpu_build() -> bool:
    """Log once when running on CPU with MindSpore >= 2.9, whose CPU convolutions are ~100x slower.

    Returns True when the warning was issued by this call.
    """
    global _warned
    if _warned or ms.get_context("device_target") != "CPU":
        return False
    if Version(ms.__version__).release[:2] < SLOW_CPU_VERSION.release[:2]:
        return False
    _warned = True
    _logger.warning("MindSpore %s on CPU runs convolutions on oneDNN's reference kernel (~100x slower than "
                    "2.7.0). For CPU work install mindspore==2.7.0 (see README, Installation).", ms.__version__)
    return True
