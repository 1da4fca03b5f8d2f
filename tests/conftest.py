"""Shared test setup: MindSpore on CPU in PyNative mode unless a test asks for graph mode."""
import logging

import mindspore as ms
import numpy as np
import pytest

from tests.helpers import TRAIN_ARGS, make_colour_folder

ms.set_device("CPU")
ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(autouse=True)
def _pynative_and_seed():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger="mindcv")
    return caplog


@pytest.fixture(scope="session")
def colour_images(tmp_path_factory):
    """Three easily separated classes (noisy red, green, blue squares): 16 train and 6 val images each."""
    return make_colour_folder(tmp_path_factory.mktemp("colours"), 16, 6)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, colour_images):
    """The run directory of a 3-epoch graph-mode train.py run on ``colour_images`` (checkpoints, metrics, plot)."""
    import train

    run_dir = tmp_path_factory.mktemp("run")
    # lr 3e-4, BN momentum 0.5 and mild crops keep 18 steps of batch 8 stable in eval mode (measured:
    # 66.7 / 100 / 100% val top-1); the upstream defaults are tuned for ImageNet-length runs.
    argv = TRAIN_ARGS + ["--dataset", "imagefolder", "--data_dir", str(colour_images), "--num_classes", "3",
                         "--mode", "0", "--epoch_size", "3", "--keep_checkpoint_max", "2", "--lr", "0.0003",
                         "--bn_momentum", "0.5", "--scale", "[0.7, 1.0]", "--ckpt_save_dir", str(run_dir)]
    assert train.main(argv) == 0
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return run_dir
