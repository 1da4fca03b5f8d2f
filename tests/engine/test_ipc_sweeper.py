"""The System V shared memory and message queues MindSpore's pipelines leave behind are removed once their training
process has ended, and never while a running process uses them."""
import ctypes
import os
import subprocess
import sys
import textwrap

from mindcv.engine import ipc_sweeper
from mindcv.engine.ipc_sweeper import KEY_FILES, leftovers, sweep
from tests.helpers import ROOT, process_running, sweepers_of, wait_for

IPC_CREAT, IPC_RMID = 0o1000, 0
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
        assert shmid >= 0 and msqid >= 0 and libc.shmat(shmid, None, 0) not in (None, 2 ** 64 - 1)
        message = (ctypes.c_long * 2)(999, 0)
        assert libc.msgsnd(msqid, message, 8, 0) == 0
        return path, shmid, msqid, message
""")

_TRAINER = _PIPELINE_OBJECTS + textwrap.dedent("""
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    from mindcv.engine.signals import install_worker_guard
    install_worker_guard()
    path, shmid, msqid, message = pipeline_objects(1)
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
    """The sweep at start-up: objects under the key file of a process that has ended go (the file last), once no
    running process attaches the segment and the queue has been quiet for QUIET_SECONDS; a running process's
    own objects stay."""
    code = f"KEY_FILES = {str(KEY_FILES)!r}\n" + _PIPELINE_OBJECTS + textwrap.dedent("""
        import sys
        path, shmid, msqid, message = pipeline_objects(7)
        libc.msgrcv(msqid, message, 8, 0, 0)
        for other in sys.argv[1:]:  # attach another process's segment too
            assert libc.shmat(int(other), None, 0) not in (None, 2 ** 64 - 1)
        print(path, shmid, msqid, flush=True)
    """)
    ended = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    path, shmid, msqid = ended[0], int(ended[1]), int(ended[2])
    alive = subprocess.Popen([sys.executable, "-c", code + "time.sleep(600)", str(shmid)], stdout=subprocess.PIPE,
                             text=True)
    own = alive.stdout.readline().split()
    try:
        sweep()  # the ended process's segment is attached by a running one, its queue was used a moment ago
        assert shmid in _ids("shm") and msqid in _ids("msg") and os.path.exists(path)
        monkeypatch.setattr(ipc_sweeper, "QUIET_SECONDS", 0.0)
        sweep()  # the queue goes; the attached segment stays, and so does the key file it is under
        assert msqid not in _ids("msg") and shmid in _ids("shm") and os.path.exists(path)
        assert int(own[1]) in _ids("shm") and int(own[2]) in _ids("msg") and os.path.exists(own[0])
        alive.kill()
        alive.wait()
        sweep()  # now nothing holds either process's objects
        assert shmid not in _ids("shm") and not os.path.exists(path)
        assert int(own[1]) not in _ids("shm") and int(own[2]) not in _ids("msg") and not os.path.exists(own[0])
    finally:
        if alive.poll() is None:
            alive.kill()
            alive.wait()
        sweep()


def test_a_training_process_starts_its_pipelines_after_the_sweep_of_what_ended_jobs_left():
    """start_sweeper returns once the sweeper has removed what ended jobs left, so no pipeline of the new job can
    draw one of their keys first."""
    code = f"KEY_FILES = {str(KEY_FILES)!r}\n" + _PIPELINE_OBJECTS + "print(*pipeline_objects(3)[:2])"
    path, shmid = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    check = ("from mindcv.engine.ipc_sweeper import start_sweeper\nstart_sweeper()\n"
             f"print(any(line.split()[1] == '{shmid}' for line in open('/proc/sysvipc/shm').readlines()[1:]))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False"], result.stderr[-2000:]
    sweep()  # the queue, used a moment ago, and the key file stay for the next quiet sweep
    assert os.path.exists(path)
