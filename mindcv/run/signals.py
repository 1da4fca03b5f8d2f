"""Stop requests (SIGTERM, Ctrl-C) turned into a flag the training loop checks, so it can save first.

MindSpore guards its graph execution with a SIGINT handler of its own that turns Ctrl-C into SIGTERM. Entry
points therefore block both signals (``STOP_SIGNALS``) in every thread before MindSpore starts, and
one thread waits for them (``sigwaitinfo``): it sees the real signal whatever MindSpore does. Outside the
training loop a signal ends the process at once (exit code 128 + signal number), as does a second one during
training. Without the blocking (a library caller) Python handlers are installed and re-armed every step.

A scheduler stopping a job (Slurm, systemd, ``kill -TERM -PGID``) sends SIGTERM to the whole process group,
data worker processes included; MindSpore ends the training process as soon as one of them dies of a signal.
Processes forked by an entry point (:func:`install_worker_guard`) therefore run :func:`worker_after_fork`: they
leave to the training process a SIGTERM sent from outside its process group, and take one from inside it
(MindSpore stopping its workers). They also die with the training process, by construction: the kernel sends them
SIGKILL when it ends (``PR_SET_PDEATHSIG``), whatever their signal mask, and one whose parent is already gone
when it starts exits at once. MindSpore's own clean-up (its watcher process sends the workers SIGTERM) cannot be
relied on: a worker waiting for its next sample holds the interpreter lock inside MindSpore's message-queue call,
so the thread that would act on that SIGTERM never runs, and the worker outlived a killed training process. The
shared memory MindSpore's handler of that SIGTERM would have removed is removed by :mod:`.ipc_sweeper`.
"""
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import Optional

import numpy as np

from ..engine.distributed import all_reduce_sum
from .ipc_sweeper import start_sweeper

__all__ = ["StopSignals", "STOP_SIGNALS", "stop_signals_blocked", "worker_after_fork", "install_worker_guard"]

_logger = logging.getLogger(__name__)
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
CHECK_SECONDS = 0.5  # data-parallel ranks agree on a stop request about this often
MAX_CHECK_INTERVAL = 100  # steps


def stop_signals_blocked() -> bool:
    """True when the calling thread blocks both stop signals (an entry point blocked them before MindSpore
    started)."""
    return STOP_SIGNALS <= signal.pthread_sigmask(signal.SIG_BLOCK, [])


class _Waiter:
    """The thread that receives the blocked signals and hands them to the listening :class:`StopSignals`."""

    def __init__(self):
        self.listener: Optional["StopSignals"] = None
        thread = threading.Thread(target=self._run, name="mindcv-stop-signals", daemon=True)
        thread.start()

    def _run(self) -> None:
        while True:
            info = signal.sigwaitinfo(STOP_SIGNALS)
            name = signal.Signals(info.si_signo).name
            listener = self.listener
            if listener is not None and listener.received is not None and info.si_pid == os.getpid():
                # MindSpore's own SIGTERM after a data worker died: the training process is already saving.
                print(f"{name} from a data worker's death ignored: saving first.", file=sys.stderr, flush=True)
                continue
            if listener is None or listener.received is not None:
                print(f"{name} received: exiting{' without saving' if listener else ''}.", file=sys.stderr, flush=True)
                os._exit(128 + info.si_signo)
            listener.record(name)


_waiter: Optional[_Waiter] = None


def _from_own_job(sender: int, group: int, parent: int) -> bool:
    """Whether a SIGTERM came from this process's job: itself, its parent, a process of its group, or a sender
    that is gone while the parent is gone too (MindSpore's clean-up process after the training process died)."""
    if sender in (0, os.getpid(), parent) or os.getppid() != parent:
        return True
    try:
        return os.getpgid(sender) == group
    except OSError:
        return False


def _worker_waits(group: int, parent: int) -> None:
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if _from_own_job(info.si_pid, group, parent):
            # Deliver it as before the filter: to whatever handler the worker has (MindSpore's), else the default.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            time.sleep(5)
            os._exit(128 + signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_prctl = None  # libc's prctl, looked up before any fork (a child of a threaded process must not dlopen)
_fork_origin = threading.local()  # (pid, forked by the main thread) of the forking thread, copied into the child


def _note_fork_origin() -> None:
    _fork_origin.value = (os.getpid(), threading.current_thread() is threading.main_thread())


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the thread that forked it ends (the main thread: when the process ends); exit now
    if that already happened between the fork and this call."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)


def worker_after_fork() -> None:
    """In a process forked from a training entry point (SIGTERM still blocked, inherited): it dies with the training
    process (when forked by its main thread, as MindSpore forks its workers; a thread that ends early would take
    its children with it), and one thread ends it on a SIGTERM from its own job and ignores one from outside,
    which the training process handles by saving."""
    parent, from_main_thread = getattr(_fork_origin, "value", (os.getppid(), False))
    if from_main_thread and _prctl is not None:
        _die_with_parent(parent)
    thread = threading.Thread(target=_worker_waits, args=(os.getpgrp(), parent), name="mindcv-worker-stop",
                              daemon=True)
    thread.start()


def install_worker_guard() -> None:
    """For an entry point, once, before MindSpore starts its worker processes: every process it forks from now on
    runs :func:`worker_after_fork`, and what the job's data pipeline leaves in System V memory is removed when
    the job ends, however it ends (:mod:`.ipc_sweeper`)."""
    global _prctl
    if sys.platform.startswith("linux"):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    start_sweeper()
    os.register_at_fork(before=_note_fork_origin, after_in_child=worker_after_fork)


class StopSignals:
    """The stop request of one training run: ``received`` names the first signal, None until one arrives.

    In a data-parallel run the exit of the launcher (msrun, the parent of every rank) is a SIGTERM too: msrun
    puts each rank in a session of its own, so a signal to msrun's process group never reaches them."""

    def __init__(self, distributed: bool, is_main: bool = True):
        self.distributed = distributed
        self.is_main = is_main
        self.received: Optional[str] = None
        self._watching = False
        self._launcher: Optional[int] = None
        self._lock = threading.Lock()  # the watcher and the training loop both notice the launcher's exit
        self._interval, self._steps, self._since = 1, 0, time.perf_counter()

    def record(self, name: str, cause: str = "") -> None:
        self.received = name
        _logger.warning("%s received%s: saving a resumable checkpoint after the current step (send it again to "
                        "exit at once).", name, cause)

    def _launcher_exited(self) -> bool:
        """Record the launcher's exit as a SIGTERM if it has exited and nothing was received before."""
        if self._launcher is None or os.getppid() == self._launcher:
            return False
        with self._lock:
            if self.received is None:
                self.record("SIGTERM", f" (the launcher, pid {self._launcher}, exited)")
        return True

    def _watch_launcher(self) -> None:
        while self._watching and not self._launcher_exited():
            time.sleep(0.5)

    def _handle(self, signum, _frame) -> None:
        self.record(signal.Signals(signum).name)

    def arm(self) -> None:
        """Start listening (again): the waiting thread when the signals are blocked, else Python handlers (which
        MindSpore's first graph compilation replaces, hence re-arming)."""
        global _waiter
        if self.distributed and not self._watching:
            self._watching = True
            self._launcher = os.getppid()
            threading.Thread(target=self._watch_launcher, name="mindcv-launcher-watch", daemon=True).start()
        if stop_signals_blocked():
            if _waiter is None:
                _waiter = _Waiter()
            _waiter.listener = self
            return
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def disarm(self) -> None:
        """Stop listening: a signal now ends the process (with the waiting thread) or acts as Python's default."""
        self._watching = False
        if _waiter is not None and _waiter.listener is self:
            _waiter.listener = None

    def requested(self) -> bool:
        """Whether to stop after this step: the local request, or in data-parallel runs whether any rank has one.

        Ranks agree with one all-reduce of a flag (~7 ms on CPU) every ``interval`` steps; the same all-reduce
        carries rank 0's next interval, the steps of about ``CHECK_SECONDS`` of training, so every rank checks
        after the same steps and stops within ``CHECK_SECONDS`` plus a step."""
        if not self.distributed:
            return self.received is not None
        self._steps += 1
        if self._steps < self._interval:
            return False
        now = time.perf_counter()
        proposal = min(MAX_CHECK_INTERVAL, max(1, round(CHECK_SECONDS * self._steps / max(now - self._since, 1e-9))))
        flag, interval = all_reduce_sum(np.array([float(self.received is not None),
                                                  float(proposal if self.is_main else 0)]))
        self._interval, self._steps, self._since = int(interval), 0, now
        if flag > 0 and self.received is None:
            self._launcher_exited()  # every rank sees the launcher's exit: name it even before the watcher polls
        return bool(flag > 0)
