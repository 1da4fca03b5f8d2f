import logging

import mindspore as ms

from mindcv.utils import environment as runtime


def test_warns_once_on_slow_cpu_versions(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="mindcv")
    monkeypatch.setattr(runtime, "_warned", False)
    monkeypatch.setattr(ms, "__version__", "2.9.0")
    assert runtime.warn_if_slow_cpu_build() is True
    assert runtime.warn_if_slow_cpu_build() is False
    assert caplog.text.count("mindspore==2.7.0") == 1


def test_silent_on_pinned_version(monkeypatch, caplog):
    monkeypatch.setattr(runtime, "_warned", False)
    monkeypatch.setattr(ms, "__version__", "2.7.0")
    assert runtime.warn_if_slow_cpu_build() is False
    monkeypatch.setattr(ms, "__version__", "2.10.1")
    assert runtime.warn_if_slow_cpu_build() is True


def test_set_seed_seeds_every_generator_with_seed_plus_rank():
    import random

    import mindspore.dataset as ds
    import numpy as np

    state = random.getstate()  # numpy's, MindSpore's and the dataset seed are reset by conftest.py
    try:
        draws = []
        for rank in (0, 0, 1):
            runtime.set_seed(7, rank)
            draws.append((random.random(), np.random.rand(), ms.get_seed(), ds.config.get_seed()))
    finally:
        random.setstate(state)
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert draws[0][2:] == (7, 7) and draws[2][2:] == (8, 8)
