"""Resume, signals and faults of the training loop (train.py end to end)."""
import signal
import time

import numpy as np

import train
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from tests.engine.conftest import launch, train_args


def _weights(path):
    state = read_checkpoint(path)
    return {k: v.asnumpy() for k, v in state.items() if not k.startswith("mindcv_meta.")}


def _wait_for(predicate, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_sigkill_then_resume_equals_uninterrupted_run(colour_folder, tmp_path):
    assert train.main(train_args(colour_folder, tmp_path / "full", "--epoch_size", 3)) == 0
    proc = launch(train_args(colour_folder, tmp_path / "killed", "--epoch_size", 3))
    assert _wait_for(lambda: (tmp_path / "killed" / "latest.ckpt").exists())
    proc.kill()
    proc.wait(timeout=60)
    meta = checkpoint_metadata(read_checkpoint(tmp_path / "killed" / "latest.ckpt"))
    assert meta["epoch"] < 3, "the run finished before it was killed; the test proves nothing"
    resume = train_args(colour_folder, tmp_path / "killed", "--epoch_size", 3, "--ckpt_path",
                        tmp_path / "killed" / "latest.ckpt", "--resume_opt", "True")
    assert train.main(resume) == 0
    full, resumed = _weights(tmp_path / "full" / "latest.ckpt"), _weights(tmp_path / "killed" / "latest.ckpt")
    assert full.keys() == resumed.keys()
    worst = max(float(np.abs(full[k].astype(np.float64) - resumed[k]).max()) for k in full)
    assert worst <= 1e-6, f"max weight difference {worst}"


def test_sigterm_mid_epoch_saves_a_resumable_checkpoint(colour_folder, tmp_path):
    run = tmp_path / "run"
    proc = launch(train_args(colour_folder, run, "--epoch_size", 2))
    assert _wait_for(lambda: (run / "train.log").exists() and "epoch 1 step 2/" in (run / "train.log").read_text())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "resume with --ckpt_path" in err
    meta = checkpoint_metadata(read_checkpoint(run / "latest.ckpt"))
    assert meta["epoch"] == 0 and 2 <= meta["step_in_epoch"] < 6
    resume = train_args(colour_folder, run, "--epoch_size", 2, "--ckpt_path", run / "latest.ckpt",
                        "--resume_opt", "True")
    assert train.main(resume) == 0
    assert checkpoint_metadata(read_checkpoint(run / "latest.ckpt"))["global_step"] == 12


def test_corrupt_checkpoint_names_file_and_newest_good_one(colour_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(train_args(colour_folder, run, "--epoch_size", 1)) == 0
    good = run / "xception-1_6.ckpt"
    bad = run / "latest_broken.ckpt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    args = train_args(colour_folder, run, "--epoch_size", 2, "--ckpt_path", bad, "--resume_opt", "True")
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "could not be read" in err and "newest good checkpoint there is" in err


def test_nonfinite_loss_stops_and_keeps_the_last_checkpoint(colour_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(train_args(colour_folder, run, "--epoch_size", 1)) == 0
    before = (run / "latest.ckpt").read_bytes()
    args = train_args(colour_folder, run, "--epoch_size", 2, "--lr", "1e30", "--ckpt_path", run / "latest.ckpt",
                      "--resume_opt", "True", "--max_nonfinite_steps", "2")
    assert train.main(args) == 2
    assert "non-finite for 2 consecutive steps" in capsys.readouterr().err
    assert (run / "latest.ckpt").read_bytes() == before


def test_dynamic_loss_scale_skips_overflow_and_lowers_scale(colour_folder, tmp_path):
    run = tmp_path / "run"
    args = train_args(colour_folder, run, "--epoch_size", 1, "--loss_scale_type", "dynamic", "--loss_scale", "3e38")
    assert train.main(args) == 0
    state = read_checkpoint(run / "latest.ckpt")
    assert float(state["scale_sense"].asnumpy()) <= 1.5e38
    assert int(state["global_step"].asnumpy().reshape(-1)[0]) < 6
    assert "overflow" in (run / "train.log").read_text()
