"""Stop requests: data-parallel ranks agree on them about every CHECK_SECONDS, after the same steps; processes
forked by an entry point die with it."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mindcv.run import signals
from mindcv.run.signals import CHECK_SECONDS, StopSignals
from tests.helpers import ROOT, process_running, wait_for


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


# An entry point in miniature: signals blocked, the guard installed, then one child forked by the main thread and
# one by a thread that ends at once; the children block every signal they can and sleep.
_FORKING_ENTRY_POINT = textwrap.dedent("""
    import os, signal, sys, threading, time
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    from mindcv.run.signals import install_worker_guard
    install_worker_guard()

    def fork_sleeper():
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})
            time.sleep(600)
            os._exit(0)
        return pid

    by_thread = []
    thread = threading.Thread(target=lambda: by_thread.append(fork_sleeper()))
    thread.start()
    thread.join()
    print(fork_sleeper(), by_thread[0], flush=True)
    time.sleep(600)
""")


@pytest.mark.slow
def test_children_of_the_main_thread_die_with_the_process_whatever_their_mask():
    """SIGKILL of the entry point ends the child its main thread forked, though that child blocks every signal it
    can (the kernel's parent-death signal); a child forked by another thread is left alone when that thread ends
    (the kernel ties the signal to the forking thread, which would kill workers of a live process)."""
    proc = subprocess.Popen([sys.executable, "-c", _FORKING_ENTRY_POINT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    by_main, by_thread = map(int, proc.stdout.readline().split())
    try:
        assert process_running(by_main) and process_running(by_thread)  # its forking thread has ended: still runs
        proc.kill()
        proc.wait(timeout=30)
        assert wait_for(lambda: not process_running(by_main), timeout=5), "the main thread's child outlived it"
        assert process_running(by_thread)
    finally:
        for pid in (by_main, by_thread):
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_child_whose_parent_is_gone_before_its_guard_runs_exits_at_once():
    """The parent can die between the fork and the child's call to prctl: the child compares its parent with the
    process that forked it and exits 128 + SIGKILL. (A hook registered first runs last before a fork: it stands
    for a forking process that has already gone.)"""
    code = textwrap.dedent("""
        import os, signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        from mindcv.run import signals
        os.register_at_fork(before=lambda: setattr(signals._fork_origin, "value", (os.getpid() + 1, True)))
        signals.install_worker_guard()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        print(os.waitpid(pid, 0)[1] >> 8)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == [str(128 + signal.SIGKILL)], result.stderr[-2000:]
