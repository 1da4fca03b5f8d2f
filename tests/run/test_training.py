"""Whole training runs (train.py end to end): exact resume, reproducibility, signals and faults."""
import os
import re
import signal
import subprocess

import numpy as np
import pytest

import train
from mindcv.run.ipc_sweeper import KEY_FILES
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from tests.helpers import BusyCores, launch, session_processes, sweepers_of, train_args, wait_for

pytestmark = pytest.mark.slow


def _weights(path):
    state = read_checkpoint(path)
    return {k: v.asnumpy() for k, v in state.items() if not k.startswith("mindcv_meta.")}


def _logged(run, text):
    log = run / "train.log"
    return log.exists() and text in log.read_text()


def _final_digest(run):
    return re.search(r"final weights sha256 (\w+)", (run / "train.log").read_text()).group(1)


def test_group_sigterm_saves_mid_epoch_before_the_sigkill_and_resumes_exactly(colour_images, tmp_path):
    """A scheduler's stop: SIGTERM to the whole process group (data worker processes included: AutoAugment and
    erasing), SIGKILL 30 s later. The run saves a mid-epoch checkpoint and exits 143 before the SIGKILL; resumed, it
    ends with bitwise the weights of an uninterrupted run (graph mode, dropout 0.5: same options and seed, same
    model)."""
    args = ["--mode", "0", "--drop_rate", "0.5", "--epoch_size", "2", "--num_samples", "16", "--log_interval", "1",
            "--auto_augment", "autoaug", "--re_prob", "0.25"]
    assert train.main(train_args(colour_images, tmp_path / "full", *args)) == 0
    proc = launch(train_args(colour_images, tmp_path / "stopped", *args), own_group=True)
    assert wait_for(lambda: _logged(tmp_path / "stopped", "epoch 1 step 1/2"))
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("still running 30 s after the group SIGTERM: killed") from None
    assert proc.returncode == 143, err[-2000:]
    assert wait_for(lambda: not session_processes(proc.pid), timeout=5), "a process of the job outlived it"
    meta = checkpoint_metadata(read_checkpoint(tmp_path / "stopped" / "latest.ckpt"))
    assert meta["epoch"] == 0 and meta["step_in_epoch"] >= 1
    resume = ["--ckpt_path", tmp_path / "stopped" / "latest.ckpt", "--resume_opt", "True"]
    assert train.main(train_args(colour_images, tmp_path / "stopped", *args, *resume)) == 0
    assert _final_digest(tmp_path / "stopped") == _final_digest(tmp_path / "full")
    full, resumed = _weights(tmp_path / "full" / "latest.ckpt"), _weights(tmp_path / "stopped" / "latest.ckpt")
    assert max(float(np.abs(full[k].astype(np.float64) - resumed[k]).max()) for k in full) == 0.0


def _forked_copies(leader: int) -> list:
    """The processes of ``leader``'s session forked from it (data workers, MindSpore's watcher): its command line."""
    with open(f"/proc/{leader}/cmdline") as own:
        command = own.read()
    copies = []
    for pid in session_processes(leader):
        try:
            with open(f"/proc/{pid}/cmdline") as other:
                if pid != leader and other.read() == command:
                    copies.append(pid)
        except FileNotFoundError:
            pass
    return copies


@pytest.mark.parametrize("signals, mode, moment", [
    (["SIGKILL"], "0", "compiling"),  # graph mode: the first step's compilation takes seconds
    (["SIGTERM", "SIGTERM"], "0", "compiling"),  # the second SIGTERM ends the process at once, without saving
    (["SIGKILL"], "1", "mid-epoch"),
])
def test_no_process_of_the_job_outlives_the_training_process(colour_images, tmp_path, signals, mode, moment):
    """However the training process ends, its data workers (RandAugment and erasing in worker processes, which wait
    for samples holding the interpreter lock) and MindSpore's watcher process end with it, on an oversubscribed CPU:
    none runs 5 s later, and none of the System V memory they shared is left. (A graceful SIGTERM: the group test
    above.)"""
    run = tmp_path / "run"
    args = train_args(colour_images, run, "--mode", mode, "--epoch_size", "3", "--batch_size", "4", "--log_interval",
                      "1", "--auto_augment", "randaug-m7-mstd0.5", "--re_prob", "0.25", "--python_multiprocessing",
                      "True")
    with BusyCores(2):
        proc = launch(args, own_group=True)
        try:
            # two workers and a watcher for each of the two maps in worker processes (per sample, per batch)
            assert wait_for(lambda: len(_forked_copies(proc.pid)) >= 3, timeout=300), "no worker processes started"
            if moment == "mid-epoch":
                assert wait_for(lambda: _logged(run, "epoch 1 step 2/"), timeout=300)
            workers = _forked_copies(proc.pid)
            for name in signals:  # one at a time: a second SIGTERM still pending would merge with the first
                os.kill(proc.pid, getattr(signal, name))
                assert name == "SIGKILL" or wait_for(lambda name=name: _logged(run, f"{name} received"), timeout=60)
            proc.communicate(timeout=120)
            if moment != "mid-epoch":
                assert not _logged(run, "epoch 1 step 1/"), f"killed after the first step, not while {moment}"
            assert wait_for(lambda: not session_processes(proc.pid), timeout=5), \
                f"left running: {[open(f'/proc/{pid}/cmdline').read() for pid in session_processes(proc.pid)]}"
            # ... and MindSpore's shared memory and message queues of the job are gone with its key files
            assert workers and wait_for(lambda: not sweepers_of(proc.pid), timeout=5), "the sweeper outlived the job"
            assert not list(KEY_FILES.glob(f"dataset_ipc_{proc.pid}_*"))
        finally:
            for pid in session_processes(proc.pid):
                os.kill(pid, signal.SIGKILL)


def test_validation_between_epochs_does_not_change_training_in_pynative_mode(colour_images, tmp_path):
    """Validation switches the shared model to evaluation mode; the next epoch must train as it would without it
    (same final weights), not with frozen BatchNorm."""
    args = ["--epoch_size", "2", "--num_samples", "16"]
    for validating in ("True", "False"):
        assert train.main(train_args(colour_images, tmp_path / validating, *args, "--val_while_train", validating)) == 0
    assert _final_digest(tmp_path / "True") == _final_digest(tmp_path / "False")


def test_sigkill_then_resume_equals_uninterrupted_run(colour_images, tmp_path):
    args = ["--epoch_size", "3", "--num_samples", "24"]
    assert train.main(train_args(colour_images, tmp_path / "full", *args)) == 0
    proc = launch(train_args(colour_images, tmp_path / "killed", *args))
    assert wait_for(lambda: (tmp_path / "killed" / "latest.ckpt").exists())
    proc.kill()
    proc.wait(timeout=60)
    meta = checkpoint_metadata(read_checkpoint(tmp_path / "killed" / "latest.ckpt"))
    assert meta["epoch"] < 3, "the run finished before it was killed; the test proves nothing"
    resume = train_args(colour_images, tmp_path / "killed", *args, "--ckpt_path", tmp_path / "killed" / "latest.ckpt",
                        "--resume_opt", "True")
    assert train.main(resume) == 0
    full, resumed = _weights(tmp_path / "full" / "latest.ckpt"), _weights(tmp_path / "killed" / "latest.ckpt")
    assert full.keys() == resumed.keys()
    assert max(float(np.abs(full[k].astype(np.float64) - resumed[k]).max()) for k in full) == 0.0


def test_ctrl_c_saves_and_exits_130_even_after_graph_compilation(colour_images, tmp_path):
    """MindSpore's first graph compilation (here the jit-compiled AdamW) takes over SIGINT and turns it into
    SIGTERM; the loop re-arms its handler, so Ctrl-C is reported as such and exits 130 after saving."""
    run = tmp_path / "run"
    proc = launch(train_args(colour_images, run, "--opt", "adamw", "--epoch_size", "3", "--log_interval", "1"))
    assert wait_for(lambda: _logged(run, "epoch 1 step 2/"))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Stopped by SIGINT" in err and f"resume with --ckpt_path {run / 'latest.ckpt'} --resume_opt True" in err
    assert checkpoint_metadata(read_checkpoint(run / "latest.ckpt"))["kind"] == "training_state"


def test_corrupt_checkpoint_names_file_and_newest_resumable_one(colour_images, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(train_args(colour_images, run, "--epoch_size", "1", "--num_samples", "16")) == 0
    good = run / "xception-1_2.ckpt"
    bad = run / "latest_broken.ckpt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    args = train_args(colour_images, run, "--epoch_size", "2", "--ckpt_path", bad, "--resume_opt", "True")
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "could not be read" in err
    assert re.search(r"newest good resumable checkpoint there is .*(latest|xception-1_2)\.ckpt", err)
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_nonfinite_loss_stops_and_keeps_the_last_checkpoint(colour_images, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(train_args(colour_images, run, "--epoch_size", "1", "--num_samples", "16")) == 0
    before = (run / "latest.ckpt").read_bytes()
    args = train_args(colour_images, run, "--epoch_size", "3", "--num_samples", "16", "--lr", "1e30",
                      "--ckpt_path", run / "latest.ckpt", "--resume_opt", "True", "--max_nonfinite_steps", "2")
    assert train.main(args) == 2
    assert re.search(r"non-finite in \d+ consecutive step.* the last checkpoint is intact", capsys.readouterr().err)
    assert (run / "latest.ckpt").read_bytes() == before


def test_dynamic_loss_scale_skips_overflow_and_lowers_scale(colour_images, tmp_path):
    run = tmp_path / "run"
    args = train_args(colour_images, run, "--epoch_size", "1", "--num_samples", "16", "--loss_scale_type", "dynamic",
                      "--loss_scale", "3e38")
    assert train.main(args) == 0
    state = read_checkpoint(run / "latest.ckpt")
    assert float(state["scale_sense"].asnumpy()) == pytest.approx(1.5e38, rel=1e-6)  # halved once
    assert int(state["global_step"].asnumpy().reshape(-1)[0]) < 2
    assert "updates skipped: overflow" in (run / "train.log").read_text()


def test_a_second_run_into_a_used_directory_keeps_the_first(colour_images, tmp_path, capsys):
    run = tmp_path / "run"
    args = train_args(colour_images, run, "--epoch_size", "1", "--num_samples", "16")
    assert train.main(args) == 0
    first = (run / "latest.ckpt").read_bytes()
    proc = launch(args)  # a concurrent second run while this process holds the first directory
    assert train.main(args) == 0
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert (run / "latest.ckpt").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run-2", "run-3"]
    assert all((tmp_path / name / "latest.ckpt").exists() for name in ("run-2", "run-3"))
