"""Run directories belong to one run; checkpoints are kept by policy, written atomically and resumed strictly."""
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.run.checkpoints import RunCheckpoints, RunDirectory
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from mindcv.utils.errors import CheckpointError, ConfigError
from mindcv.utils.fileio import write_text_atomic


def _entries(value=1.0):
    return [{"name": "w", "data": ms.Tensor(np.full((2, 2), value, np.float32))}]


def test_a_fresh_directory_is_used_and_locked(tmp_path):
    run = RunDirectory.open(str(tmp_path / "run"), resuming=False, overwrite=False, is_main=True)
    try:
        assert run.path == tmp_path / "run" and (run.path / ".lock").exists()
        with pytest.raises(ConfigError, match=r"in use by another training process \(pid \d+"):
            RunDirectory.open(str(tmp_path / "run"), resuming=True, overwrite=False, is_main=True)
    finally:
        run.close()


def test_a_directory_holding_a_run_is_never_reused_silently(tmp_path, info_logs):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.ckpt").write_bytes(b"a finished run")
    second = RunDirectory.open(str(tmp_path / "run"), resuming=False, overwrite=False, is_main=True)
    second.close()
    assert second.path == tmp_path / "run-2" and "holds another run; this run writes to" in info_logs.text
    (second.path / "config.yaml").write_text("x")
    third = RunDirectory.open(str(tmp_path / "run"), resuming=False, overwrite=False, is_main=True)
    third.close()
    assert third.path == tmp_path / "run-3"
    assert (tmp_path / "run" / "best.ckpt").read_bytes() == b"a finished run"


def test_overwrite_clears_only_the_previous_runs_files(tmp_path):
    (tmp_path / "run").mkdir()
    for name in ("best.ckpt", "xception-3_10.ckpt", "metrics.jsonl", "notes.txt"):
        (tmp_path / "run" / name).write_text("old")
    run = RunDirectory.open(str(tmp_path / "run"), resuming=False, overwrite=True, is_main=True)
    run.close()
    assert sorted(p.name for p in run.path.iterdir()) == [".lock", "notes.txt"]


def test_a_file_as_run_directory_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file; choose a folder"):
        RunDirectory.open(str(tmp_path / "f"), resuming=False, overwrite=False, is_main=True)


@pytest.mark.parametrize("policy, kept", [("latest_k", [3, 4]), ("top_k", [1, 3])])
def test_keep_policy(tmp_path, policy, kept):
    manager = RunCheckpoints(tmp_path, "net", 2, policy, is_main=True)
    for epoch, top1 in ((1, 90.0), (2, 10.0), (3, 80.0), (4, 20.0)):
        manager.save_epoch(_entries(epoch), {"epoch": epoch, "global_step": epoch}, epoch, 5, top1)
    assert sorted(int(p.stem.split("-")[1].split("_")[0]) for p in tmp_path.glob("net-*.ckpt")) == kept
    latest = read_checkpoint(tmp_path / "latest.ckpt")
    assert float(latest["w"].asnumpy()[0, 0]) == 4.0 and checkpoint_metadata(latest)["kind"] == "training_state"


def _epochs_kept(folder):
    return sorted(int(p.stem.split("-")[1].split("_")[0]) for p in folder.glob("net-*.ckpt"))


@pytest.mark.parametrize("policy, kept", [("latest_k", [4, 5]), ("top_k", [1, 4])])
def test_a_resumed_run_counts_the_epoch_files_of_its_earlier_processes(tmp_path, policy, kept):
    """Each process of a run (started, killed, resumed) keeps ``keep_max`` epoch files in all, not each its own:
    top_k ranks the earlier ones by the validation top-1 in metrics.jsonl (a line cut by a kill is skipped)."""
    top1 = {1: 90.0, 2: 10.0, 3: 80.0, 4: 85.0, 5: 20.0}
    first = RunCheckpoints(tmp_path, "net", 2, policy, is_main=True)
    for epoch in (1, 2, 3):
        first.save_epoch(_entries(epoch), {"epoch": epoch, "global_step": epoch}, epoch, 5, top1[epoch])
    rows = [f'{{"epoch": {epoch}, "val_top1": {top1[epoch]}}}' for epoch in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(rows) + '\n{"epoch": 4, "val_to')
    resumed = RunCheckpoints(tmp_path, "net", 2, policy, is_main=True)
    for epoch in (4, 5):
        resumed.save_epoch(_entries(epoch), {"epoch": epoch, "global_step": epoch}, epoch, 5, top1[epoch])
    assert _epochs_kept(tmp_path) == kept


def test_hundreds_of_saves_over_many_resumes_keep_exactly_k_files_and_no_temporary_file(tmp_path):
    """A long run preempted every 25 epochs: 200 epoch saves by 8 processes leave exactly ``keep_max`` epoch files,
    ``latest.ckpt`` (the newest) and nothing else."""
    for process in range(8):
        manager = RunCheckpoints(tmp_path, "net", 3, "latest_k", is_main=True)
        for epoch in range(25 * process + 1, 25 * process + 26):
            manager.save_epoch(_entries(epoch), {"epoch": epoch, "global_step": epoch}, epoch, 5, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.ckpt", "net-198_5.ckpt", "net-199_5.ckpt",
                                                          "net-200_5.ckpt"]
    assert float(read_checkpoint(tmp_path / "latest.ckpt")["w"].asnumpy()[0, 0]) == 200.0


_WRITE_BEYOND_THE_LIMIT = """
import resource, signal, sys
from pathlib import Path
import mindspore as ms, numpy as np
from mindcv.run.checkpoints import RunCheckpoints
from mindcv.utils.errors import FileWriteError
manager = RunCheckpoints(Path(sys.argv[1]), "net", 5, "latest_k", is_main=True)
manager.save_epoch([{"name": "w", "data": ms.Tensor(np.full((2, 2), 1.0, np.float32))}],
                   {"epoch": 1, "global_step": 1}, 1, 5, None)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
try:
    manager.save_epoch([{"name": "w", "data": ms.Tensor(np.full((256, 256), 2.0, np.float32))}],  # 256 KiB
                       {"epoch": 2, "global_step": 2}, 2, 5, None)
except FileWriteError as error:
    print(error)
"""


@pytest.mark.slow
def test_a_failed_write_keeps_the_last_good_checkpoint_and_no_temporary_file(tmp_path):
    """Writes beyond 64 KiB fail for real in a child process (EFBIG, as a full disk fails them); MindSpore's own
    partial file (``.<name>.tmp<pid>.tmp``) included. The limit stays in the child: in this process it would also
    stop pytest writing its report."""
    child = subprocess.run([sys.executable, "-c", _WRITE_BEYOND_THE_LIMIT, str(tmp_path)], capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert "net-2_5.ckpt: the file is larger than this process may write" in child.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.ckpt", "net-1_5.ckpt"]
    assert float(read_checkpoint(tmp_path / "latest.ckpt")["w"].asnumpy()[0, 0]) == 1.0


def test_temporary_files_of_killed_writers_go_at_the_next_write(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = int(finished.stdout)
    stale = [tmp_path / f".model.onnx.tmp{dead}.onnx", tmp_path / f".model.onnx.tmp{dead}.tmp"]
    live = tmp_path / f".model.onnx.tmp{os.getppid()}.onnx"  # a running process's write in progress
    for path in stale + [live]:
        path.write_text("partial")
    write_text_atomic(tmp_path / "model.onnx", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "model.onnx"])


def test_resuming_weights_only_names_a_resumable_checkpoint(tmp_path):
    manager = RunCheckpoints(tmp_path, "net", 5, "latest_k", is_main=True)
    manager.save_epoch(_entries(), {"epoch": 1, "global_step": 5}, 1, 5, None)
    manager.save_best(_entries(), {"epoch": 1, "global_step": 5})
    net = nn.Dense(2, 2)
    with pytest.raises(CheckpointError, match=r"holds model weights only.*newest good resumable checkpoint there is "
                                              r".*(net-1_5|latest)\.ckpt"):
        manager.resume(str(tmp_path / "best.ckpt"), net, net)


@pytest.mark.slow
def test_a_kill_during_the_first_checkpoint_write_leaves_no_resumable_file_to_misname(tmp_path):
    """SIGKILL in the middle of writing: the temporary file is left, latest.ckpt never appears, and the advice for
    the broken file does not recommend best.ckpt (weights only)."""
    code = ("import os, mindspore as ms, numpy as np\n"
            "from mindcv.run.checkpoints import RunCheckpoints\n"
            "import mindcv.utils.fileio as fileio\n"
            "m = RunCheckpoints(__import__('pathlib').Path(%r), 'net', 5, 'latest_k', True)\n"
            "m.save_best([{'name': 'w', 'data': ms.Tensor(np.ones(3, np.float32))}], {'epoch': 1, 'global_step': 1})\n"
            "os.fsync = lambda fd: os.kill(os.getpid(), 9)\n"
            "m.save_epoch([{'name': 'w', 'data': ms.Tensor(np.ones(3, np.float32))}], {'epoch': 1, 'global_step': 1},"
            " 1, 5, None)\n") % str(tmp_path)
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    assert not (tmp_path / "latest.ckpt").exists() and (tmp_path / "best.ckpt").exists()
    advice = RunCheckpoints.resumable_beside(tmp_path / "latest.ckpt")
    assert advice.startswith("No other readable resumable checkpoint") and "best.ckpt" not in advice
    assert list(tmp_path.glob(".*.tmp*"))  # the unfinished write, removed when the run directory is next opened
    RunDirectory.open(str(tmp_path), resuming=True, overwrite=False, is_main=True).close()
    assert not list(tmp_path.glob(".*.tmp*"))


def _finished_run(path, marker):
    path.mkdir()
    for name in ("config.yaml", "metrics.jsonl", "latest.ckpt"):
        (path / name).write_text(marker)
    return path


def test_a_resumed_run_never_writes_into_another_runs_directory(tmp_path):
    """<dir> holds run A; run B went to <dir>-2. Resuming B with the same command line (ckpt_save_dir <dir>)
    continues in <dir>-2, where B's checkpoint was written; A is untouched."""
    first, second = _finished_run(tmp_path / "run", "A"), _finished_run(tmp_path / "run-2", "B")
    resumed = RunDirectory.open(str(first), resuming=True, overwrite=False, is_main=True,
                                checkpoint=str(second / "latest.ckpt"))
    resumed.close()
    assert resumed.path == second.resolve()
    assert all((first / name).read_text() == "A" for name in ("config.yaml", "metrics.jsonl", "latest.ckpt"))
    into_own = RunDirectory.open(str(second), resuming=True, overwrite=False, is_main=True,
                                 checkpoint=str(second / "latest.ckpt"))
    into_own.close()
    assert into_own.path == second
    fresh = RunDirectory.open(str(tmp_path / "continued"), resuming=True, overwrite=False, is_main=True,
                              checkpoint=str(second / "latest.ckpt"))
    fresh.close()
    assert fresh.path == tmp_path / "continued"  # a free directory is a fine place to continue


def test_a_checkpoint_from_outside_any_run_resumes_into_a_new_directory(tmp_path):
    first = _finished_run(tmp_path / "run", "A")
    loose = tmp_path / "copied.ckpt"
    loose.write_text("")
    resumed = RunDirectory.open(str(first), resuming=True, overwrite=False, is_main=True, checkpoint=str(loose))
    resumed.close()
    assert resumed.path == tmp_path / "run-2" and (first / "config.yaml").read_text() == "A"


def test_the_current_folder_holding_a_checkpoint_gives_its_numbered_sibling(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "x.ckpt").write_text("")
    monkeypatch.chdir(runs)
    run_dir = RunDirectory.open(".", resuming=False, overwrite=False, is_main=True)
    run_dir.close()
    assert run_dir.path == tmp_path / "runs-2"


def test_a_run_that_fails_before_saving_removes_only_the_directory_it_created(tmp_path):
    created = RunDirectory.open(str(tmp_path / "new"), resuming=False, overwrite=False, is_main=True)
    (created.path / "train.log").write_text("error")
    created.close(failed=True)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    kept = RunDirectory.open(str(existing), resuming=False, overwrite=False, is_main=True)
    kept.close(failed=True)
    assert existing.is_dir()
    saved = RunDirectory.open(str(tmp_path / "saved"), resuming=False, overwrite=False, is_main=True)
    (saved.path / "latest.ckpt").write_text("")
    saved.close(failed=True)
    assert (tmp_path / "saved" / "latest.ckpt").exists()
