"""The System V shared memory and message queues MindSpore's pipelines leave behind are removed once their training
process has ended, and never while a running process uses them."""
import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from mindcv.run import ipc_sweeper
from mindcv.run.ipc_sweeper import KEY_FILES, leftovers, sweep
from tests.helpers import ROOT, process_running, sweepers_of, wait_for

IPC_CREAT, IPC_RMID = 0o1000, 0
# One test sweeps the machine with no quiet period, which would take the fresh objects of another running beside
# it (pytest -n 2): these tests run in one process.
pytestmark = pytest.mark.xdist_group("system_v_ipc")
_libc = ctypes.CDLL(None, use_errno=True)

# What MindSpore's pipeline makes for one worker, in the process running this: a key file named after the training
# process, and a segment and a queue under its ftok key; one message sent and received on the queue.
_PIPELINE_OBJECTS = textwrap.dedent("""
    import ctypes, os, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p

    def pipeline_objects(tag):
        path = f"{KEY_FILES}/dataset_ipc_{os.getpid()}_{tag}_0"
        open(path, "w").close()
        key = libc.ftok(path.encode(), 0)
        shmid, msqid = libc.shmget(key, 4096, 0o1600), libc.msgget(key, 0o1600)
        address = libc.shmat(shmid, None, 0)
        assert shmid >= 0 and msqid >= 0 and address not in (None, 2 ** 64 - 1)
        message = (ctypes.c_long * 2)(999, 0)
        assert libc.msgsnd(msqid, message, 8, 0) == 0
        return path, shmid, msqid, message, address
""")

_TRAINER = _PIPELINE_OBJECTS + textwrap.dedent("""
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    from mindcv.run.signals import install_worker_guard
    install_worker_guard()
    path, shmid, msqid, message, _ = pipeline_objects(1)
    worker = os.fork()
    if worker == 0:  # takes the sample and answers, as a data worker does; keeps the segment attached
        libc.msgrcv(msqid, message, 8, 0, 0)
        libc.msgsnd(msqid, message, 8, 0)
        time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    print(path, shmid, msqid, worker, flush=True)
    time.sleep(600)
""")


def _ids(table):
    with open(f"/proc/sysvipc/{table}") as rows:
        return {int(line.split()[1]) for line in rows.read().splitlines()[1:]}


@pytest.mark.slow
def test_a_killed_jobs_segments_queues_and_key_files_go_when_its_last_process_ends():
    proc = subprocess.Popen([sys.executable, "-c", f"KEY_FILES = {str(KEY_FILES)!r}\n" + _TRAINER], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        path, shmid, msqid, worker = proc.stdout.readline().split()
        shmid, msqid, worker = int(shmid), int(msqid), int(worker)
        # running: the segment is attached and the queue in use, so nothing of it is taken, by either sweep
        assert leftovers(proc.pid) == {"files": [], "shm": [], "msg": []}
        assert path not in map(str, leftovers()["files"])
        assert process_running(worker) and sweepers_of(proc.pid)
        proc.kill()
        proc.wait(timeout=30)
        assert wait_for(lambda: not sweepers_of(proc.pid), timeout=5), "the sweeper outlived its job"
        assert shmid not in _ids("shm") and msqid not in _ids("msg") and not os.path.exists(path)
        assert not process_running(worker)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_what_ended_jobs_left_goes_unless_a_running_process_or_a_recent_use_holds_it(monkeypatch):
    """The sweep at start-up: objects under the key files of a process that has ended go (the files last), once no
    running process attaches a segment under the key or used the queue, and the queue has been quiet for
    QUIET_SECONDS; a running process's own objects stay."""
    ended_code = f"KEY_FILES = {str(KEY_FILES)!r}\n" + _PIPELINE_OBJECTS + textwrap.dedent("""
        for tag in (7, 8):
            path, shmid, msqid, message, _ = pipeline_objects(tag)
            libc.msgrcv(msqid, message, 8, 0, 0)
            print(path, shmid, msqid)
    """)
    lines = subprocess.run([sys.executable, "-c", ended_code], capture_output=True, text=True, check=True).stdout
    (path7, shm7, msq7), (path8, shm8, msq8) = [(p, int(a), int(b)) for p, a, b in map(str.split, lines.splitlines())]
    # a running process that attaches the segment under key 7 and sends on the queue under key 8, and has its own
    alive_code = f"KEY_FILES = {str(KEY_FILES)!r}\n" + _PIPELINE_OBJECTS + textwrap.dedent(f"""
        assert libc.shmat({shm7}, None, 0) not in (None, 2 ** 64 - 1)
        assert libc.msgsnd({msq8}, (ctypes.c_long * 2)(999, 0), 8, 0) == 0
        path, shmid, msqid, message, _ = pipeline_objects(9)
        print(path, shmid, msqid, flush=True)
        time.sleep(600)
    """)
    alive = subprocess.Popen([sys.executable, "-c", alive_code], stdout=subprocess.PIPE, text=True)
    own = alive.stdout.readline().split()
    everything = {("shm", shm7), ("msg", msq7), ("shm", shm8), ("msg", msq8), ("shm", int(own[1])),
                  ("msg", int(own[2]))}

    def left():
        return {(table, ident) for table, ident in everything if ident in _ids(table)}

    try:
        sweep()  # used a moment ago: every queue stays, so do the key files; the detached segment 8 goes
        assert left() == everything - {("shm", shm8)} and os.path.exists(path7) and os.path.exists(path8)
        monkeypatch.setattr(ipc_sweeper, "QUIET_SECONDS", 0.0)
        sweep()  # quiet now: key 7 is in use (attached), queue 8 was used last by a running process
        assert left() == everything - {("shm", shm8)} and os.path.exists(path7) and os.path.exists(path8)
        alive.kill()
        alive.wait()
        sweep()  # now nothing holds any of them
        assert left() == set() and not any(os.path.exists(p) for p in (path7, path8, own[0]))
    finally:
        if alive.poll() is None:
            alive.kill()
            alive.wait()
        sweep()


@pytest.mark.slow
def test_a_training_process_starts_its_pipelines_after_the_sweep_of_what_ended_jobs_left():
    """start_sweeper returns once the sweeper has removed what ended jobs left, so no pipeline of the new job can
    draw one of their keys first."""
    code = f"KEY_FILES = {str(KEY_FILES)!r}\n" + _PIPELINE_OBJECTS + "print(*pipeline_objects(3)[:2])"
    path, shmid = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    check = ("from mindcv.run.ipc_sweeper import start_sweeper\nstart_sweeper()\n"
             f"print(any(line.split()[1] == '{shmid}' for line in open('/proc/sysvipc/shm').readlines()[1:]))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False"], result.stderr[-2000:]
    sweep()  # the queue, used a moment ago, and the key file stay for the next quiet sweep
    assert os.path.exists(path)
