"""Shared test setup: MindSpore on CPU in PyNative mode unless a test asks for graph mode."""
import logging

import mindspore as ms
import numpy as np
import pytest

ms.set_device("CPU")
ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(autouse=True)
def _pynative_and_seed():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger="mindcv")
    return caplog
