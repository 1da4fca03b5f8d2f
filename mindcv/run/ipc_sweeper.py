"""Removes the System V shared memory and message queues that MindSpore's data pipelines of ended training
processes left behind.

MindSpore hands samples to its data worker processes through a System V message queue and shared memory segment
per worker, keyed by ``ftok`` of a file it creates, ``/tmp/dataset_ipc_<pid of the training process>_...``. They
outlive every process that used them until someone removes them. A training process that ends normally removes
them itself; one that is killed (``kill -9``, the OOM killer, a scheduler's hard kill) cannot, and its workers,
which MindSpore would have remove them on a SIGTERM, die with it (:mod:`.signals`). What is left holds memory until
the machine reboots (the kernel allows 4,096 segments in all), and the key files' inodes come back: a later
pipeline that draws a leftover queue's key opens that queue, and its worker takes a stale message for a sample
and dies ("Dataset worker process ... has already exited"), failing a correct run.

:func:`start_sweeper` (called by :func:`.signals.install_worker_guard`, i.e. by ``train.py``) starts this file as
a small process of its own (its own session, standard library only). It first removes what ended training
processes left (their key file names a process that no longer runs, and no running process used the queue in
the last minute), while the training process waits. Then it waits on the read end of a pipe whose write end the
training process and every process it forks hold; when the last of them has ended, it removes what this job's
pipelines left, and exits.
"""
import ctypes
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["start_sweeper", "leftovers", "sweep", "KEY_FILES"]

IPC_RMID = 0
KEY_FILES = Path("/tmp")  # where MindSpore creates dataset_ipc_<pid>_<id>_<n>, the files its keys come from
_KEY_FILE = re.compile(r"dataset_ipc_(\d+)_\d+_\d+")
QUIET_SECONDS = 60.0  # a queue of an ended process that something used this recently is left alone
READY_SECONDS = 10.0  # the longest a training process waits for the sweep of what ended jobs left
EXIT_SECONDS = 5.0  # the longest the sweeper waits for its job's processes to finish exiting
_libc = ctypes.CDLL(None, use_errno=True)
_job_pipe: Optional[int] = None  # the write end; forked processes inherit it
_sweeper: Optional[subprocess.Popen] = None  # kept referenced: the training process never waits for it


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _table(name: str) -> Dict[int, List[Dict[str, int]]]:
    """The rows of ``/proc/sysvipc/<name>`` (``shm`` or ``msg``) by key, as dicts of their integer columns."""
    try:
        lines = Path(f"/proc/sysvipc/{name}").read_text().splitlines()
    except OSError:
        return {}
    header = lines[0].split() if lines else []
    rows: Dict[int, List[Dict[str, int]]] = {}
    for line in lines[1:]:
        if line.strip():
            row = dict(zip(header, map(int, line.split())))
            rows.setdefault(row["key"], []).append(row)
    return rows


def leftovers(trainer: Optional[int] = None) -> Dict[str, List]:
    """What the pipelines of training process ``trainer`` (of every ended one, when None) left under the keys of
    their key files, where no process attaches a segment under the key (a pipeline uses it, maybe one in another
    PID namespace): the segments, the queues no running process used (for None: not in the last
    ``QUIET_SECONDS`` either), and the key files under which nothing else is left."""
    shm, msg, now = _table("shm"), _table("msg"), time.time()
    found: Dict[str, List] = {"files": [], "shm": [], "msg": []}
    for path in KEY_FILES.glob("dataset_ipc_*"):
        match = _KEY_FILE.fullmatch(path.name)
        if not match or (int(match.group(1)) != trainer if trainer is not None else _running(int(match.group(1)))):
            continue
        key = _libc.ftok(str(path).encode(), 0)
        if any(row["nattch"] for row in shm.get(key, [])):  # a process attaches its segment: the key is in use
            continue
        segments = [row["shmid"] for row in shm.get(key, []) if not _running(row["cpid"])]
        queues = [row["msqid"] for row in msg.get(key, [])
                  if not (_running(row["lspid"]) or _running(row["lrpid"]))
                  and (trainer is not None or now - max(row["stime"], row["rtime"]) > QUIET_SECONDS)]
        found["shm"] += segments
        found["msg"] += queues
        if len(segments) == len(shm.get(key, [])) and len(queues) == len(msg.get(key, [])):
            found["files"].append(path)
    return found


def sweep(trainer: Optional[int] = None) -> None:
    """Remove :func:`leftovers` (``trainer`` as there)."""
    found = leftovers(trainer)
    for shmid in found["shm"]:
        _libc.shmctl(shmid, IPC_RMID, None)
    for msqid in found["msg"]:
        _libc.msgctl(msqid, IPC_RMID, None)
    for path in found["files"]:
        try:
            path.unlink()
        except OSError:  # another user's, or gone meanwhile
            pass


def start_sweeper() -> None:
    """Start the sweeper of this process's job (once, before the data pipeline starts)."""
    global _job_pipe, _sweeper
    if _job_pipe is not None or not sys.platform.startswith("linux"):
        return
    read_end, _job_pipe = os.pipe()
    _sweeper = subprocess.Popen([sys.executable, "-I", str(Path(__file__)), str(os.getpid()), str(read_end)],
                                pass_fds=(read_end,), start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.close(read_end)
    # This job's pipelines start after the sweep of what ended jobs left (one of their queues could otherwise be
    # drawn again); the sweeper says so by closing its output. A stuck sweeper delays the run by READY_SECONDS.
    if select.select([_sweeper.stdout], [], [], READY_SECONDS)[0]:
        _sweeper.stdout.read()
    _sweeper.stdout.close()


def _main(argv: List[str]) -> int:
    trainer, read_end = int(argv[0]), int(argv[1])
    sweep()  # what ended jobs left
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # closes the pipe: the job may go on
    with os.fdopen(read_end, "rb") as pipe:
        while pipe.read(4096):  # until every process of the job has closed it, on its way out
            pass
    # a process that closed the pipe may still be finishing its exit (and count as running) for a moment
    deadline = time.monotonic() + EXIT_SECONDS
    sweep(trainer)
    while list(KEY_FILES.glob(f"dataset_ipc_{trainer}_*")) and time.monotonic() < deadline:
        time.sleep(0.05)
        sweep(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
