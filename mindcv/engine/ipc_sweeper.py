"""Removes the System V shared memory and message queues of a training job whose training process was killed.

MindSpore hands samples to its data worker processes through System V shared memory segments and message queues,
which outlive every process that used them until someone removes them. A training process that ends normally
removes them itself; one that is killed (``kill -9``, the OOM killer, a scheduler's hard kill) cannot, and its
workers, which MindSpore would have remove them on a SIGTERM, die with it (:mod:`.signals`). Each such kill would
leave a segment and a queue per worker and pipeline stage until the machine reboots: memory nobody can use, and
the kernel allows 4,096 segments in all (after which every new pipeline fails).

:func:`start_sweeper` (called by :func:`.signals.install_worker_guard`, i.e. by ``train.py``) starts this file as
a small process of its own (its own session, standard library only) holding the read end of a pipe. The training
process and every process it forks hold the write end, and forked processes write their pid into it. When the
last of them has ended the pipe reaches its end; the sweeper then removes the segments the training process
created that nothing has attached, and the queues the job's processes used last, and exits.
"""
import ctypes
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

__all__ = ["start_sweeper", "register_process", "job_objects"]

IPC_RMID = 0
_registry_fd: Optional[int] = None
_sweeper: Optional[subprocess.Popen] = None  # kept referenced: the training process never waits for it


def _table(name: str) -> List[Dict[str, int]]:
    """The rows of ``/proc/sysvipc/<name>`` (``shm`` or ``msg``) as dicts of their integer columns."""
    try:
        lines = Path(f"/proc/sysvipc/{name}").read_text().splitlines()
    except OSError:
        return []
    header = lines[0].split() if lines else []
    return [dict(zip(header, map(int, line.split()))) for line in lines[1:] if line.strip()]


def job_objects(pids: Iterable[int]) -> Dict[str, List[int]]:
    """The segment and queue ids a job of these processes left: segments they created that nothing has attached,
    queues one of them sent or received on last (a worker is always one side of a queue)."""
    job = set(pids)
    return {"shm": [row["shmid"] for row in _table("shm") if row["cpid"] in job and row["nattch"] == 0],
            "msg": [row["msqid"] for row in _table("msg") if row["lspid"] in job or row["lrpid"] in job]}


def _sweep(pids: Set[int]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    found = job_objects(pids)
    for shmid in found["shm"]:
        libc.shmctl(shmid, IPC_RMID, None)
    for msqid in found["msg"]:
        libc.msgctl(msqid, IPC_RMID, None)


def start_sweeper() -> None:
    """Start the sweeper of this process's job (once, before the data pipeline starts)."""
    global _registry_fd, _sweeper
    if _registry_fd is not None or not sys.platform.startswith("linux"):
        return
    read_end, write_end = os.pipe()
    _sweeper = subprocess.Popen([sys.executable, "-I", str(Path(__file__)), str(os.getpid()), str(read_end)],
                                pass_fds=(read_end,), start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(read_end)
    os.set_blocking(write_end, False)  # a registration never waits, even if the sweeper is gone
    _registry_fd = write_end


def register_process() -> None:
    """In a process just forked from the training process: tell the sweeper it belongs to the job."""
    if _registry_fd is not None:
        try:
            os.write(_registry_fd, b"%d\n" % os.getpid())
        except OSError:  # the sweeper is gone (its pipe closed or full): nothing to tell
            pass


def _main(argv: List[str]) -> int:
    trainer, read_end = int(argv[0]), int(argv[1])
    pids = {trainer}
    with os.fdopen(read_end, "rb") as registry:
        for line in registry:  # until every process of the job has ended
            if line.strip().isdigit():
                pids.add(int(line))
    _sweep(pids)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
