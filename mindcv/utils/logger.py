"""``set_logger``: MindCV's logging set-up, for a training script's entry point (library code only creates
loggers)."""
import logging
import os
import sys
from typing import Dict, Optional

from .fileio import describe_os_error

__all__ = ["set_logger"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s - %(message)s"
DATE_FORMAT = "[%Y-%m-%d %H:%M:%S]"
_configured: Dict[Optional[str], logging.Logger] = {}


def set_logger(name: Optional[str] = None, output_dir: Optional[str] = None, rank: Optional[int] = 0,
               log_level: int = logging.INFO, color: bool = True) -> logging.Logger:
    """Configure logger ``name`` (the root logger for None) once, as MindCV does: its messages stop propagating,
    rank 0 logs to stdout, and every rank to ``<output_dir>/rank<rank>.log`` when ``output_dir`` is given. A later
    call for the same name returns the configured logger unchanged. ``color`` is accepted; output is plain text
    (MindCV colours it with ``rich`` or ``termcolor`` when installed)."""
    if name in _configured:
        return _configured[name]
    rank = rank or 0
    logger = logging.getLogger(name)
    logger.setLevel(log_level)
    logger.propagate = False
    formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
    handlers = []
    if rank == 0:
        handlers.append(logging.StreamHandler(sys.stdout))
    if output_dir is not None:
        path = os.path.join(output_dir, f"rank{rank}.log")
        try:
            os.makedirs(output_dir, exist_ok=True)
            handlers.append(logging.FileHandler(path, encoding="utf-8"))
        except OSError as exc:
            raise describe_os_error(exc, path) from exc
    for handler in handlers:
        handler.setLevel(log_level)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    _configured[name] = logger
    return logger

