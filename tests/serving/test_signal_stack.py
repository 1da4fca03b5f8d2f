"""The calling thread's alternate signal stack is the same after an OpenVINO call as before it."""
import ctypes

import pytest

from mindcv.serving.signal_stack import _Stack, keeping_signal_stack

pytestmark = pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "sigaltstack"), reason="sigaltstack is POSIX")


def current_signal_stack():
    """(address, size, flags) of the calling thread's alternate signal stack."""
    stack = _Stack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    return stack.ss_sp, stack.ss_size, stack.ss_flags


def test_a_stack_set_in_the_block_is_replaced_by_the_one_before():
    before = current_signal_stack()
    memory = ctypes.create_string_buffer(64 << 10)  # what a library maps and may free later
    with keeping_signal_stack():
        stack = _Stack(ctypes.cast(memory, ctypes.c_void_p), 0, len(memory))
        assert ctypes.CDLL(None).sigaltstack(ctypes.byref(stack), None) == 0
        assert current_signal_stack()[0] == ctypes.addressof(memory)
    assert current_signal_stack() == before


def test_the_stack_is_put_back_when_the_block_raises():
    before = current_signal_stack()
    memory = ctypes.create_string_buffer(64 << 10)
    with pytest.raises(RuntimeError), keeping_signal_stack():
        ctypes.CDLL(None).sigaltstack(ctypes.byref(_Stack(ctypes.cast(memory, ctypes.c_void_p), 0, len(memory))),
                                      None)
        raise RuntimeError("compile failed")
    assert current_signal_stack() == before
