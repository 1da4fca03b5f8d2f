"""A killed training job's System V shared memory and message queues are removed when its last process ends."""
import ctypes
import os
import signal
import subprocess
import sys
import textwrap

from mindcv.engine.ipc_sweeper import job_objects
from tests.helpers import ROOT, process_running, sweepers_of, wait_for

IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
_libc = ctypes.CDLL(None, use_errno=True)

# A training process in miniature: the guard installed, a segment and a queue made as MindSpore's pipeline makes
# them, a forked "worker" that receives a sample and sends one back on the queue, then everything sleeps.
_TRAINER = textwrap.dedent("""
    import ctypes, os, signal, time
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    from mindcv.engine.signals import install_worker_guard
    install_worker_guard()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    shmid = libc.shmget(0, 4096, 0o1600)
    assert libc.shmat(shmid, None, 0) not in (None, ctypes.c_void_p(-1).value)
    msqid = libc.msgget(0, 0o1600)
    message = (ctypes.c_long * 2)(1, 0)  # type 1, 8 bytes of text
    assert libc.msgsnd(msqid, message, 8, 0) == 0
    worker = os.fork()
    if worker == 0:
        libc.msgrcv(msqid, message, 8, 0, 0)
        libc.msgsnd(msqid, message, 8, 0)
        time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    print(shmid, msqid, worker, flush=True)
    time.sleep(600)
""")


def test_a_killed_jobs_segments_and_queues_are_removed_and_others_kept():
    mine = _libc.shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600)  # not the job's: must stay
    assert mine >= 0
    proc = subprocess.Popen([sys.executable, "-c", _TRAINER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        shmid, msqid, worker = map(int, proc.stdout.readline().split())
        assert job_objects([proc.pid, worker]) == {"shm": [], "msg": [msqid]}  # the segment is still attached
        assert process_running(worker) and sweepers_of(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
        assert wait_for(lambda: job_objects([proc.pid, worker]) == {"shm": [], "msg": []}, timeout=5)
        with open("/proc/sysvipc/shm") as table:
            ids = [int(line.split()[1]) for line in table.read().splitlines()[1:]]
        assert shmid not in ids and mine in ids
        assert wait_for(lambda: not sweepers_of(proc.pid), timeout=5), "the sweeper outlived its job"
    finally:
        _libc.shmctl(mine, IPC_RMID, None)
        if proc.poll() is None:
            proc.kill()
