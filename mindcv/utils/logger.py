"""Logging set-up for entry points (library code only creates loggers): :func:`console_logging` and
:func:`log_file` configure the ``mindcv`` loggers for the duration of a command or a run and put them back;
``set_logger`` is MindCV's set-up for a training script of one's own."""
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional

from .fileio import describe_os_error

__all__ = ["set_logger", "console_logging", "log_file"]

PACKAGE_LOGGER = "mindcv"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(message)s"
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



@contextmanager
def console_logging(rank: int = 0, level: int = logging.INFO, fmt: str = CONSOLE_FORMAT) -> Iterator[None]:
    """Within the block the ``mindcv`` loggers print at ``level`` to stderr (rank 0 only) and do not propagate;
    afterwards the logger is as it was."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    saved = logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr) if rank == 0 else logging.NullHandler()
    handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S"))
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@contextmanager
def log_file(path: Path, fmt: str = CONSOLE_FORMAT) -> Iterator[None]:
    """Within the block the ``mindcv`` loggers also write to ``path`` (appending); the file is closed after."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise describe_os_error(exc, path) from exc
    handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S"))
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
