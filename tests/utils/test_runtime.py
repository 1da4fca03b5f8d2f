import logging

import mindspore as ms

from mindcv.utils import runtime


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
