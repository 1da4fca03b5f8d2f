"""The calling thread's alternate signal stack kept across OpenVINO calls (used by :mod:`.backends` and
:mod:`.quantization`).

OpenVINO's CPU plugin gives the thread that compiles a model an alternate signal stack of its own, mapped for that
model, and puts back the stack it found when the model is freed. Models freed in another order than they were made
leave the thread on an unmapped stack, and the next signal handled there (Python's handlers and the fault handler
run on it) kills the process with SIGSEGV and no message: a SIGTERM or Ctrl-C after an int8 validation did. With
the thread's own stack put back right after each call that compiles, every model puts back that same stack,
whatever the order.
"""
import contextlib
import ctypes
import logging
import os
import sys
from typing import Iterator

_logger = logging.getLogger(__name__)


class _Stack(ctypes.Structure):  # Linux's stack_t, what sigaltstack reads and writes
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextlib.contextmanager
def keeping_signal_stack() -> Iterator[None]:
    """The calling thread's alternate signal stack after the block is the one it had before (Linux; elsewhere a
    no-op)."""
    read = False  # nothing read (not Linux, or the call failed): nothing to put back
    if sys.platform.startswith("linux"):
        libc, before = ctypes.CDLL(None, use_errno=True), _Stack()
        read = libc.sigaltstack(None, ctypes.byref(before)) == 0
    try:
        yield
    finally:
        if read and libc.sigaltstack(ctypes.byref(before), None) != 0:
            _logger.debug("Could not put back the thread's signal stack: %s", os.strerror(ctypes.get_errno()))
