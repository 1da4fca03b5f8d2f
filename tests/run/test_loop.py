"""The epoch loop with built objects: statistics read at the log cadence, stop requests, non-finite runs, resume."""
import os
import signal

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor

from mindcv.run.loop import (LoopHooks, LoopPlan, LoopSettings, TrainingInterrupted, TrainingStopped,
                                train_epochs)
from mindcv.run.signals import StopSignals


class FakeStep:
    """A train step that records its calls and accumulates statistics like ``TrainStep`` (loss = ``losses`` in
    order)."""

    def __init__(self, losses, after_call=lambda calls: None):
        self.losses = list(losses)
        self.after_call = after_call
        self.calls = []
        for name in ("stat_loss_sum", "stat_finite", "stat_nonfinite", "stat_nonfinite_run", "stat_skipped"):
            setattr(self, name, Parameter(Tensor(0.0, ms.float32), name=name))

    def __call__(self, images, labels):
        loss = self.losses[len(self.calls)]
        self.calls.append(int(labels[0]))
        finite = np.isfinite(loss)
        self.stat_loss_sum.set_data(self.stat_loss_sum + (loss if finite else 0.0))
        self.stat_finite.set_data(self.stat_finite + float(finite))
        self.stat_nonfinite.set_data(self.stat_nonfinite + float(not finite))
        self.stat_nonfinite_run.set_data((self.stat_nonfinite_run + 1) * float(not finite))
        self.after_call(len(self.calls))


def _batches(steps):
    return lambda epoch: [(np.zeros(1), np.array([epoch * 100 + i])) for i in range(steps)]


def _run(step, epochs=range(0, 2), steps=4, resume=0, log_interval=2, stop=None, max_nonfinite=3):
    ends, interrupts = [], []

    def interrupt(epoch, done, global_step):
        interrupts.append((epoch, done, global_step))
        raise TrainingInterrupted("stopped", "SIGTERM")

    hooks = LoopHooks(epoch_end=lambda e, w, s, g: ends.append((e, [x.loss_sum for x in w], g)),
                      interrupt=interrupt, lr=lambda g: 0.1)
    result = train_epochs(step, _batches(steps), LoopPlan(epochs, steps, resume), hooks, stop or StopSignals(False),
                          LoopSettings(log_interval, max_nonfinite, global_batch=8, show_progress=False))
    return result, ends, interrupts


def test_statistics_are_read_at_the_cadence_and_per_epoch():
    step = FakeStep([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    global_step, ends, _ = _run(step)
    assert global_step == 8 and step.calls == [0, 1, 2, 3, 100, 101, 102, 103]
    assert ends == [(0, [3.0, 7.0], 4), (1, [11.0, 15.0], 8)]


def test_resume_replays_the_data_and_skips_the_done_steps():
    step = FakeStep([1.0] * 8)
    _, ends, _ = _run(step, epochs=range(1, 3), resume=3)
    assert step.calls == [103, 200, 201, 202, 203] and [e[0] for e in ends] == [1, 2]


def test_resume_after_the_last_step_of_an_epoch_only_ends_the_epoch():
    """A stop during an epoch's last step saves step_in_epoch == steps_per_epoch; resuming then goes straight to
    the end of that epoch (validation, checkpoint) and on."""
    step = FakeStep([1.0] * 4)
    _, ends, _ = _run(step, epochs=range(0, 2), resume=4)
    assert step.calls == [100, 101, 102, 103] and ends[0] == (0, [], 0) and ends[1][0] == 1


def test_a_non_finite_loss_at_the_end_of_an_epoch_stops_before_saving():
    step = FakeStep([1.0, 1.0, 1.0, float("nan")])
    with pytest.raises(TrainingStopped, match="stopping before saving anything"):
        _run(step, log_interval=2, steps=4, max_nonfinite=3)


def test_a_run_of_non_finite_losses_stops_at_the_next_reading():
    step = FakeStep([1.0, float("nan"), float("inf"), float("nan"), 1.0, 1.0])
    with pytest.raises(TrainingStopped, match=r"non-finite in 3 consecutive step\(s\)"):
        _run(step, log_interval=2, steps=6, max_nonfinite=3)
    assert len(step.calls) == 4


def test_a_signal_stops_after_the_current_step():
    stop = StopSignals(False)
    step = FakeStep([1.0] * 8, after_call=lambda calls: calls == 3 and os.kill(os.getpid(), signal.SIGTERM))
    try:
        with pytest.raises(TrainingInterrupted):
            _run(step, stop=stop)
        assert stop.received == "SIGTERM" and len(step.calls) == 3
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
