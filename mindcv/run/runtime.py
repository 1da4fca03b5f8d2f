"""Runtime set-up shared by ``train.py`` and ``validate.py``: device, mode, seeds, distributed context."""
import logging
import os
from dataclasses import dataclass

import mindspore as ms

from ..utils.environment import set_seed
from ..utils.errors import ConfigError

__all__ = ["Runtime", "refuse_compile_cache", "setup_runtime"]

_logger = logging.getLogger(__name__)
_DEVICE_ORDER = ("Ascend", "GPU", "CPU")


@dataclass
class Runtime:
    device_target: str
    rank: int = 0
    group_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.group_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _resolve_device(requested: str) -> str:
    if requested == "auto":
        for target in _DEVICE_ORDER:
            if ms.hal.is_available(target):
                return target
        raise ConfigError("No usable MindSpore device found (tried Ascend, GPU, CPU).")
    if not ms.hal.is_available(requested):
        raise ConfigError(f"device_target {requested} is not available in this MindSpore build "
                           f"({ms.__version__}); install the {requested} build of MindSpore or use --device_target "
                           "auto.")
    return requested


def refuse_compile_cache() -> None:
    """Refuse MindSpore's compile cache (``MS_COMPILER_CACHE_ENABLE=1`` or ``enable_compile_cache``): MindSpore 2.7
    reloads a process's graphs by their compile order and the hashes of its source files, whatever the options, so
    a run whose options changed the graph computes with the graph of an earlier run (measured: train.py with
    ``--opt momentum`` after a run with ``adamw`` ended with other weights than uncached, exit code 0)."""
    enabled = ms.get_context("enable_compile_cache")
    if enabled is None:
        enabled = os.environ.get("MS_COMPILER_CACHE_ENABLE")
    if enabled is True or enabled == "1":
        raise ConfigError("MindSpore's compile cache is on (MS_COMPILER_CACHE_ENABLE=1 or enable_compile_cache): it "
                          "reuses graphs compiled for other options and then trains or scores with them silently; "
                          "unset MS_COMPILER_CACHE_ENABLE (and enable_compile_cache).")


def setup_runtime(device_target: str = "auto", mode: int = 0, jit_level: str = "", seed: int = 42,
                  distribute: bool = False) -> Runtime:
    """Select the device and execution mode, seed every generator, and join the msrun group if asked.

    An empty ``jit_level`` means O2 in graph mode on Ascend (what MindCV's ``train.py`` sets) and MindSpore's
    default elsewhere. MindSpore's compile cache is refused (:func:`refuse_compile_cache`).
    """
    refuse_compile_cache()
    target = _resolve_device(device_target)
    ms.set_device(target)
    ms.set_context(mode=mode)
    if not jit_level and mode == ms.GRAPH_MODE and target == "Ascend":
        jit_level = "O2"
    if jit_level:
        ms.set_context(jit_config={"jit_level": jit_level})
    set_seed(seed)
    runtime = Runtime(device_target=target)
    if distribute:
        from mindspore.communication import get_group_size, get_rank, init

        init()
        runtime.rank, runtime.group_size = get_rank(), get_group_size()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                     device_num=runtime.group_size)
    return runtime
