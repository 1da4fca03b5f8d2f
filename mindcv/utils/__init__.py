"""Utilities shared by models, data and training, and MindCV's ``mindcv.utils`` names.

MindCV's training helpers (``create_trainer``, ``TrainStep``, ``StateMonitor``, ...) live in ``mindcv.engine``,
the layer above, which imports these utilities; this module hands them out by name (``__getattr__``: an import
statement here would be circular). ``import mindcv`` exports them at the top level, as MindCV does, and so loads
those engine modules; the layering test knows this one upward edge (``tests/test_layering.py``).
"""
import importlib

from .checkpoint import CheckpointManager, read_checkpoint
from .download import (ARCHIVE_TYPE_SUFFIX, COMPRESS_TYPE_SUFFIX, FILE_TYPE_ALIASES, DownLoad, cached_download,
                       detect_file_type, download_file, get_cache_dir, get_default_download_root,
                       set_default_download_root, sha256_file)
from .errors import (CheckpointError, ConfigError, DataError, DownloadError, FileWriteError, MindcvError,
                     UnknownModelError, UnknownOptionError)
from .logger import set_logger
from .environment import set_seed

_ENGINE_NAMES = {
    "create_trainer": "trainer_factory", "get_metrics": "trainer_factory",
    "require_customized_train_step": "train_step", "TrainStep": "train_step", "StateMonitor": "callbacks",
    "ValCallback": "callbacks", "AllReduceSum": "distributed", "auto_mixed_precision": "amp",
    "AMP_WHITE_LIST": "amp", "AMP_BLACK_LIST": "amp",
}

__all__ = ["MindcvError", "ConfigError", "DataError", "CheckpointError", "DownloadError", "FileWriteError",
           "UnknownModelError", "UnknownOptionError", "read_checkpoint", "CheckpointManager", "cached_download",
           "download_file", "get_cache_dir", "sha256_file", "DownLoad", "detect_file_type", "FILE_TYPE_ALIASES",
           "ARCHIVE_TYPE_SUFFIX", "COMPRESS_TYPE_SUFFIX", "get_default_download_root", "set_default_download_root",
           "set_logger", "set_seed", *_ENGINE_NAMES]


def __getattr__(name: str):
    if name in _ENGINE_NAMES:
        return getattr(importlib.import_module(f"mindcv.engine.{_ENGINE_NAMES[name]}"), name)
    raise AttributeError(f"module 'mindcv.utils' has no attribute '{name}'")
