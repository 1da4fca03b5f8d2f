"""Data-parallel training under msrun: two CPU workers that really all-reduce."""
import re
import socket
import subprocess
import time

import pytest

import validate
from tests.helpers import ROOT, train_args, venv_env

pytestmark = [pytest.mark.slow, pytest.mark.distributed]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _msrun(log_dir, args, script=ROOT / "train.py"):
    msrun = ["msrun", "--worker_num", "2", "--local_worker_num", "2", "--master_port", str(_free_port()),
             "--join", "True", "--log_dir", str(log_dir), str(script)]
    return subprocess.Popen(msrun + [str(a) for a in args], cwd=ROOT, env=venv_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


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


def test_a_killed_rank_fails_the_whole_job(colour_images, tmp_path):
    run = tmp_path / "run"
    proc = _msrun(tmp_path / "logs", train_args(colour_images, run, "--epoch_size", "50", "--distribute", "True",
                                                "--batch_size", "2"))
    deadline = time.monotonic() + 300
    pid = None
    while pid is None and time.monotonic() < deadline:
        log = run / "train_rank1.log"
        match = re.search(r"rank 1, pid (\d+)", log.read_text()) if log.exists() else None
        pid = int(match.group(1)) if match else None
        time.sleep(0.2)
    assert pid, "rank 1 never started"
    time.sleep(3)
    subprocess.run(["kill", "-9", str(pid)], check=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert f"Worker process {pid} exit with exception" in out


def test_all_reduce_sum_adds_integer_counts_on_cpu(tmp_path):
    """MindCV's train.py all-reduces an int32 sample count, which MindSpore's CPU backend refuses; AllReduceSum
    sums it as float32 and hands back int32."""
    script = tmp_path / "reduce.py"
    script.write_text("import mindspore as ms, numpy as np\n"
                      "from mindspore.communication import get_rank, init\n"
                      "ms.set_device('CPU')\ninit()\n"
                      "from mindcv.utils import AllReduceSum\n"
                      "out = AllReduceSum()(ms.Tensor(np.array([get_rank() + 1, 10], np.int32)))\n"
                      "print('RESULT', out.dtype, out.asnumpy().tolist(), flush=True)\n")
    proc = _msrun(tmp_path / "logs", [], script=script)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    results = [line.split("RESULT ", 1)[1] for path in (tmp_path / "logs").glob("worker_*.log")
               for line in path.read_text().splitlines() if "RESULT " in line]
    assert results == ["Int32 [3, 20]"] * 2
