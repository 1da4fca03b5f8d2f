"""train.py end to end on a tiny, easily learned image folder (the shared trained_run) and its errors."""
import json
import logging
import random
import re
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
import pytest

import train
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from tests.helpers import OPTION_READERS, ROOT, record_option_readers, train_args, wait_for, with_dev_shm
from tests.helpers import TRAIN_ARGS as COMMON

TINY = COMMON + ["--dataset", "fashion_mnist", "--num_classes", "10", "--num_samples", "48", "--val_num_samples", "20"]


def process_state():
    """What a library call must not leave changed: logging, MindSpore's mode and seeds, the dataset engine."""
    package, root = logging.getLogger("mindcv"), logging.getLogger()
    numpy_state = np.random.get_state()
    return (package.level, package.propagate, list(package.handlers), list(root.handlers), ms.get_context("mode"),
            ms.get_seed(), ds.config.get_seed(), ds.config.get_prefetch_size(), numpy_state[1].tobytes(),
            numpy_state[2], random.getstate())


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_loss_and_beats_chance(trained_run):
    rows = _metrics(trained_run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["val_top1"] >= 66.0
    assert {"lr", "val_top5", "val_loss", "epoch_time", "images_per_second", "step"} <= set(rows[0])


def test_checkpoint_rotation_keeps_k_and_metadata(trained_run):
    epochs = sorted(p.name for p in trained_run.glob("xception-*.ckpt"))
    assert epochs == ["xception-2_6.ckpt", "xception-3_6.ckpt"]
    assert (trained_run / "best.ckpt").is_file() and (trained_run / "latest.ckpt").is_file()
    assert not list(trained_run.glob(".*tmp*"))
    meta = checkpoint_metadata(read_checkpoint(trained_run / "latest.ckpt"))
    assert meta["epoch"] == 3 and meta["global_step"] == 18 and meta["kind"] == "training_state"
    assert json.loads(meta["class_names"]) == ["blue", "green", "red"]
    assert checkpoint_metadata(read_checkpoint(trained_run / "best.ckpt"))["kind"] == "weights"
    assert (trained_run / "config.yaml").is_file() and (trained_run / "train.log").is_file()


def test_resume_continues_from_metadata(trained_run, colour_images, tmp_path, monkeypatch):
    """Resume from epoch 2's checkpoint renamed to a misleading name: the epoch comes from metadata. (And only the
    builder reads the options.)"""
    readers = record_option_readers(monkeypatch)
    misleading = tmp_path / "xception-99_1.ckpt"
    misleading.write_bytes((trained_run / "xception-2_6.ckpt").read_bytes())
    argv = COMMON + ["--dataset", "imagefolder", "--data_dir", str(colour_images), "--num_classes", "3", "--mode",
                     "1", "--epoch_size", "3", "--ckpt_path", str(misleading), "--resume_opt", "True",
                     "--ckpt_save_dir", str(tmp_path / "resumed")]
    assert train.main(argv) == 0
    rows = _metrics(tmp_path / "resumed")
    assert [r["epoch"] for r in rows] == [3] and rows[0]["step"] == 18
    assert "mindcv.run.builder" in readers and readers <= OPTION_READERS


@pytest.mark.slow
def test_pynative_mixup_ema_accumulation(tmp_path):
    """With the recipe's AutoAugment and erasing too, which run with the mixing in worker processes."""
    argv = TINY + ["--mode", "1", "--epoch_size", "1", "--mixup", "0.2", "--cutmix", "1.0", "--label_smoothing",
                   "0.1", "--auto_augment", "autoaug", "--re_prob", "0.25", "--ema", "True", "--ema_decay", "0.9",
                   "--gradient_accumulation_steps", "2", "--clip_grad", "True", "--val_while_train", "True",
                   "--ckpt_save_dir", str(tmp_path)]
    before = process_state()
    assert train.main(argv) == 0
    assert process_state() == before
    state = read_checkpoint(tmp_path / "latest.ckpt")
    assert "ema.conv1.weight" in state and checkpoint_metadata(state)["global_step"] == 6  # micro-steps
    best = read_checkpoint(tmp_path / "best.ckpt")
    assert np.array_equal(best["conv1.weight"].asnumpy(), state["ema.conv1.weight"].asnumpy())


def test_print_config_builds_nothing(tmp_path, capsys):
    assert train.main(TINY + ["--ckpt_save_dir", str(tmp_path / "never"), "--print_config"]) == 0
    assert "ckpt_save_dir: " in capsys.readouterr().out and not (tmp_path / "never").exists()


@pytest.mark.parametrize("argv, message", [
    (["--data_dir", "/nonexistent/fm"], "Fashion-MNIST files not found in /nonexistent/fm"),
    (["--opt", "adamz"], "Did you mean: adam"),
    (["--batch_size", "64", "--num_samples", "48"], "batch_size 64 is larger than the 48 samples"),
    (["--model", "xceptoin"], "Did you mean: xception"),
    (["--image_resize", "64"], "minimum input of 71"),
    (["--num_classes", "7"], "set --num_classes 10"),
    (["--val_interval", "0"], "must be >= 1"),
    (["--resume_opt", "True"], "resume_opt True needs --ckpt_path"),
])
def test_bad_input_gives_one_clear_error_and_writes_nothing(argv, message, tmp_path, capsys):
    assert train.main(TINY + ["--ckpt_save_dir", str(tmp_path / "run")] + argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_an_empty_config_names_data_dir_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.yaml").write_text("")
    assert train.main(["-c", "empty.yaml", "--device_target", "CPU"]) == 2
    assert "Split folder 'train' not found in data_dir . (it has [])" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["empty.yaml"]


def test_a_file_as_run_directory_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert train.main(TINY + ["--ckpt_save_dir", str(tmp_path / "file")]) == 2
    assert "is a file; choose a folder for the run" in capsys.readouterr().err


@pytest.mark.slow
def test_a_full_dev_shm_is_refused_in_one_line_before_anything_is_written(colour_images, tmp_path):
    """Worker processes need /dev/shm for their locks: where it is full the run stops at once, naming both fixes,
    instead of failing inside MindSpore's first iteration; in threads the same run needs none."""
    args = train_args(colour_images, tmp_path / "run", "--auto_augment", "autoaug", "--epoch_size", "1",
                      "--num_samples", "8")
    refused = with_dev_shm("64k", [sys.executable, ROOT / "train.py", *args], full=True, timeout=600)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 2 and len(errors) == 1, refused.stderr[-2000:]
    assert "/dev/shm (0 KiB free" in errors[0] and "--shm-size" in errors[0] and \
        "python_multiprocessing False" in errors[0]
    assert not (tmp_path / "run").exists()
    threads = with_dev_shm("64k", [sys.executable, ROOT / "train.py", *args, "--python_multiprocessing", "False"],
                           full=True, timeout=600)
    assert threads.returncode == 0, threads.stderr[-2000:]


@pytest.mark.slow
def test_worker_processes_train_at_299_px_in_a_64_mib_dev_shm(colour_images, tmp_path):
    """Docker's default /dev/shm (64 MiB): train.py with AutoAugment and erasing in worker processes at 299 px ends
    with bitwise the weights of the same run on this machine's /dev/shm."""
    args = ["--image_resize", "299", "--batch_size", "2", "--num_samples", "4", "--epoch_size", "1",
            "--auto_augment", "autoaug", "--re_prob", "0.5", "--python_multiprocessing", "True"]
    small = with_dev_shm("64m", [sys.executable, ROOT / "train.py", *train_args(colour_images, tmp_path / "small",
                                                                                *args)], timeout=1200)
    assert small.returncode == 0, small.stderr[-3000:]
    assert train.main(train_args(colour_images, tmp_path / "large", *args)) == 0
    digests = [re.search(r"final weights sha256 (\w+)", (tmp_path / run / "train.log").read_text()).group(1)
               for run in ("small", "large")]
    assert digests[0] == digests[1]


def _blocked_in_every_thread(pid: int) -> bool:
    """SIGINT and SIGTERM are blocked in every thread of ``pid`` but mindcv's waiting thread (while it waits in
    ``sigtimedwait`` the kernel shows the awaited signals unblocked: it is the one that takes them)."""
    wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    masks = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if "sigtimedwait" in (task / "wchan").read_text():
                continue
            status = (task / "status").read_text()
        except FileNotFoundError:  # the thread ended since the listing
            continue
        masks.append(int(re.search(r"^SigBlk:\s*([0-9a-f]+)", status, re.M).group(1), 16))
    return bool(masks) and all(mask & wanted == wanted for mask in masks)


@pytest.mark.slow
def test_python_m_mindcv_train_blocks_the_stop_signals_in_every_thread(tmp_path):
    """Importing mindcv starts MindSpore's first thread with nothing blocked; ``python -m mindcv.train`` (what
    ``mindcv-train`` runs) therefore starts again with SIGINT/SIGTERM blocked, so that they reach only the
    thread that saves first."""
    run = tmp_path / "run"
    # PyNative: the first step, after which the signal stops the run, comes without a graph compile
    proc = subprocess.Popen([sys.executable, "-m", "mindcv.train", *TINY, "--ckpt_save_dir", str(run),
                             "--epoch_size", "3", "--mode", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # MindSpore's threads (the first one starts with the import) and mindcv's are running
        assert wait_for(lambda: len(list(Path(f"/proc/{proc.pid}/task").iterdir())) >= 4, timeout=300)
        assert _blocked_in_every_thread(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == train.SIGNAL_EXIT_CODES["SIGTERM"]
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_console_scripts_are_the_commands_and_mindcv_train_runs():
    installed = {entry.name: entry for entry in metadata.entry_points(group="console_scripts")
                 if entry.name.startswith("mindcv-")}
    commands = {"mindcv-train": "command", "mindcv-validate": "main", "mindcv-predict": "main",
                "mindcv-export": "main", "mindcv-plot": "main", "mindcv-convert": "main"}
    assert {name: entry.load().__name__ for name, entry in installed.items()} == commands
    script = Path(sys.executable).parent / "mindcv-train"
    done = subprocess.run([str(script), "-c", str(ROOT / "configs/xception/xception_cpu_fashion_mnist.yaml"),
                           "--print_config"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "ckpt_save_dir: ./runs/xception_fashion_mnist" in done.stdout
