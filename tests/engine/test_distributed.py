"""Data-parallel training under msrun: two CPU workers that really all-reduce; their faults; two nodes."""
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest

import validate
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from tests.helpers import ROOT, train_args, venv_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.distributed]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _msrun(log_dir, args, script=ROOT / "train.py", **popen):
    msrun = ["msrun", "--worker_num", "2", "--local_worker_num", "2", "--master_port", str(_free_port()),
             "--join", "True", "--log_dir", str(log_dir), str(script)]
    return subprocess.Popen(msrun + [str(a) for a in args], cwd=ROOT, env=venv_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def _rank_pids(run):
    """The process ids the ranks logged, once both have."""
    pids = {}
    for rank, name in ((0, "train.log"), (1, "train_rank1.log")):
        match = re.search(rf"rank {rank}, pid (\d+)", (run / name).read_text()) if (run / name).exists() else None
        if match:
            pids[rank] = int(match.group(1))
    return pids if len(pids) == 2 else None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[-1].startswith("Z")


def _digest(run, name="train.log"):
    return re.findall(r"final weights sha256 (\w+)", (run / name).read_text())[-1]


RESUMABLE = ["--epoch_size", "2", "--distribute", "True", "--batch_size", "2", "--num_samples", "16",
             "--log_interval", "1", "--drop_rate", "0.5"]


@pytest.fixture(scope="module")
def uninterrupted(colour_images, tmp_path_factory):
    """The final weights digest of a 2-rank job of RESUMABLE that nothing interrupted."""
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    proc = _msrun(run.parent / "logs", train_args(colour_images, run, *RESUMABLE))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert _digest(run) == _digest(run, "train_rank1.log")
    return _digest(run)


def _resume_and_compare(colour_images, run, expected):
    proc = _msrun(run.parent / "resume_logs", train_args(colour_images, run, *RESUMABLE, "--ckpt_path",
                                                         run / "latest.ckpt", "--resume_opt", "True"))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert _digest(run) == _digest(run, "train_rank1.log") == expected


def test_two_ranks_end_identical_and_validate_like_one_process(colour_images, tmp_path, capsys):
    run = tmp_path / "run"
    args = train_args(colour_images, run, "--epoch_size", "2", "--distribute", "True", "--batch_size", "4",
                      "--val_while_train", "True", "--lr", "0.02", "--num_samples", "24", "--drop_rate", "0.5",
                      "--auto_augment", "autoaug", "--re_prob", "0.25")  # each rank runs augmentation processes
    proc = _msrun(tmp_path / "logs", args)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]
    logs = {rank: (run / name).read_text() for rank, name in ((0, "train.log"), (1, "train_rank1.log"))}
    digests = {rank: re.search(r"final weights sha256 (\w+)", text).group(1) for rank, text in logs.items()}
    assert digests[0] == digests[1]
    assert all("3 steps per epoch" in text and "batch 4 x 2 device(s)" in text for text in logs.values())
    final = re.findall(r"val top-1 ([\d.]+)%.*\((\d+) images\)", logs[0])[-1]
    assert final[1] == "18"  # every validation image exactly once over the two ranks
    assert validate.main(train_args(colour_images, tmp_path / "v", "--ckpt_path", run / "latest.ckpt")) == 0
    assert f"top-1 {float(final[0]):.2f}%" in capsys.readouterr().out


def test_all_reduce_sum_adds_integer_counts_on_cpu(tmp_path):
    """MindCV's train.py all-reduces an int32 sample count, which MindSpore's CPU backend refuses; AllReduceSum
    sums it as float32 and hands back int32. (The script ends its group with release(): left to the interpreter's
    exit, a rank was once ended by SIGSEGV after printing its result.)"""
    script = tmp_path / "reduce.py"
    script.write_text("import mindspore as ms, numpy as np\n"
                      "from mindspore.communication import get_rank, init, release\n"
                      "ms.set_device('CPU')\ninit()\n"
                      "from mindcv.utils import AllReduceSum\n"
                      "out = AllReduceSum()(ms.Tensor(np.array([get_rank() + 1, 10], np.int32)))\n"
                      "print('RESULT', out.dtype, out.asnumpy().tolist(), flush=True)\n"
                      "release()\n")
    proc = _msrun(tmp_path / "logs", [], script=script)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    results = [line.split("RESULT ", 1)[1] for path in (tmp_path / "logs").glob("worker_*.log")
               for line in path.read_text().splitlines() if "RESULT " in line]
    assert results == ["Int32 [3, 20]"] * 2


def test_a_preempted_job_saves_mid_epoch_on_every_rank_and_resumes_exactly(colour_images, tmp_path, uninterrupted):
    """``kill -TERM -<msrun's process group>``: msrun dies at once and its ranks, each in a session of its own,
    get no signal; they see the launcher gone, agree on the step, rank 0 saves, every rank exits within 30 s
    (then SIGKILL). All ranks resumed from that checkpoint end with the uninterrupted job's weights."""
    run = tmp_path / "run"
    proc = _msrun(tmp_path / "logs", train_args(colour_images, run, *RESUMABLE), start_new_session=True)
    assert wait_for(lambda: (run / "train.log").exists() and "epoch 1 step 1/4" in (run / "train.log").read_text())
    pids = _rank_pids(run)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    stopped = wait_for(lambda: not any(_alive(pid) for pid in pids.values()), timeout=30)
    for pid in pids.values():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert stopped, "a rank was still running 30 s after the job's SIGTERM"
    meta = checkpoint_metadata(read_checkpoint(run / "latest.ckpt"))
    assert meta["epoch"] == 0 and meta["step_in_epoch"] >= 1, meta
    for rank in (0, 1):
        log = (tmp_path / "logs" / f"worker_{rank}.log").read_text()
        assert f"Stopped by SIGTERM in epoch 1 after step {meta['step_in_epoch']}" in log, (rank, log[-3000:])
    _resume_and_compare(colour_images, run, uninterrupted)


def test_a_killed_rank_fails_the_job_fast_and_all_ranks_resume_exactly(colour_images, tmp_path, uninterrupted):
    run = tmp_path / "run"
    proc = _msrun(tmp_path / "logs", train_args(colour_images, run, *RESUMABLE))
    assert wait_for(lambda: (run / "latest.ckpt").exists())
    pid = _rank_pids(run)[1]
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and f"Worker process {pid} exit with exception" in out
    assert time.monotonic() - killed < 120
    assert checkpoint_metadata(read_checkpoint(run / "latest.ckpt"))["epoch"] < 2, "finished before the kill"
    _resume_and_compare(colour_images, run, uninterrupted)


def _small_file_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, resource.RLIM_INFINITY))


def test_a_full_disk_on_the_writing_rank_ends_every_rank(colour_images, tmp_path):
    """Files above 8 MiB fail for real (RLIMIT_FSIZE): rank 0's first checkpoint. It names the file; the other
    rank, waiting in the next all-reduce, does not hang; no partial file is left."""
    run = tmp_path / "run"
    proc = _msrun(tmp_path / "logs", train_args(colour_images, run, *RESUMABLE), preexec_fn=_small_file_limit)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "worker_0.log").read_text()
    assert "error: Cannot write" in log and "xception-1_4.ckpt: the file is larger than" in log
    assert not [p.name for p in run.iterdir() if p.suffix in (".ckpt", ".tmp")]


def test_two_nodes_end_with_the_weights_of_one(colour_images, tmp_path, uninterrupted):
    """Two msrun processes, --node_rank 0 and 1, one worker each, master on 127.0.0.1 (the second "node" does
    not count that address as its own, as on a real second machine): the weights of one 2-worker node."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from simulate_nodes import run_job
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    two = run_job(train_args(colour_images, tmp_path / "run", *RESUMABLE), nodes=2, log_dir=tmp_path / "logs")
    assert two["returncodes"] == [0, 0]
    assert two["digests"] == [uninterrupted, uninterrupted]
