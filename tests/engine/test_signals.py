"""Stop requests: data-parallel ranks agree on them about every CHECK_SECONDS, after the same steps."""
import numpy as np

from mindcv.engine import signals
from mindcv.engine.signals import CHECK_SECONDS, StopSignals


def test_ranks_agree_on_stopping_about_every_check_seconds_with_rank0s_interval(monkeypatch):
    clock = [0.0]
    reduced = []

    def all_reduce_sum(values):  # this rank's values and another rank's (a flag and no proposal)
        reduced.append(values.tolist())
        return np.asarray(values, np.float64) + np.array([0.0, 0.0])

    monkeypatch.setattr(signals.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(signals, "all_reduce_sum", all_reduce_sum)
    stop = StopSignals(distributed=True, is_main=True)
    stop._since = 0.0
    answers = []
    for step in range(30):
        clock[0] += 0.1  # a step of 0.1 s: CHECK_SECONDS is 5 steps
        if step == 17:
            stop.received = "SIGTERM"
        answers.append(stop.requested())
    assert CHECK_SECONDS == 0.5
    assert reduced[:3] == [[0.0, 5.0], [0.0, 5.0], [0.0, 5.0]]  # after steps 1, 6, 11: every 5 steps
    assert answers.index(True) == 20 and answers.count(True) == 2  # the checks after the request: steps 21 and 26
    follower = StopSignals(distributed=True, is_main=False)
    monkeypatch.setattr(signals, "all_reduce_sum", lambda values: np.asarray(values, np.float64) + [0.0, 5.0])
    assert follower.requested() is False and follower._interval == 5  # rank 0's interval, not its own


def test_a_rank_told_to_stop_names_the_launchers_exit_before_its_watcher_polls(monkeypatch):
    """msrun's exit reaches every rank; the all-reduce may tell a rank before its own watcher saw it. The rank
    then reports SIGTERM (as rank 0 does), and "a signal on another rank" only while its launcher still runs."""
    monkeypatch.setattr(signals, "all_reduce_sum", lambda values: np.asarray(values, np.float64) + [1.0, 5.0])
    parent = [1234]
    monkeypatch.setattr(signals.os, "getppid", lambda: parent[0])
    follower = StopSignals(distributed=True, is_main=False)
    follower._launcher = 1234
    assert follower.requested() is True and follower.received is None
    parent[0] = 1  # msrun exited: the rank was re-parented
    follower._steps = follower._interval - 1
    assert follower.requested() is True and follower.received == "SIGTERM"
