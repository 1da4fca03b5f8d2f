"""Fixtures for the engine tests: a tiny, easily learned image folder and the train.py command line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_colour_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """Noisy red / green / blue squares: 8 train and 4 val images per class."""
    return make_colour_folder(tmp_path_factory.mktemp("colours"), 8, 4)


def train_args(data_dir, run_dir, *extra):
    return ["--dataset", "imagefolder", "--data_dir", str(data_dir), "--num_classes", "3", "--image_resize", "71",
            "--batch_size", "4", "--device_target", "CPU", "--mode", "1", "--opt", "momentum", "--lr", "0.01",
            "--drop_rate", "0.0", "--crop_pct", "1.0", "--num_parallel_workers", "1", "--log_interval", "1",
            "--val_while_train", "False", "--ckpt_save_dir", str(run_dir), *[str(e) for e in extra]]


def venv_env():
    """The environment with this interpreter's bin folder first on PATH (msrun starts workers with `python`)."""
    return dict(os.environ, GLOG_v="3", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def launch(args):
    """Start ``python train.py args`` in its own process."""
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=venv_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
