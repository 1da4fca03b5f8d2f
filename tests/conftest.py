"""Shared test setup: MindSpore on CPU in PyNative mode unless a test asks for graph mode, shared fixtures,
and the slow marker for every test of the trained run (markers are declared in pyproject.toml)."""
import gc
import logging
import time

import mindspore as ms
import numpy as np
import pytest

from tests.helpers import TRAIN_ARGS, make_colour_folder, write_image

ms.set_device("CPU")
ms.set_context(mode=ms.PYNATIVE_MODE)


def pytest_sessionstart(session):
    """Say the random order's seed even under -q (pytest-randomly shows it only in the header): the same order
    again with ``--randomly-seed=<seed>``, file order with ``-p no:randomly``."""
    seed = getattr(session.config.option, "randomly_seed", None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if seed is not None and reporter is not None and session.config.pluginmanager.has_plugin("randomly"):
        reporter.write_line(f"test order: random, --randomly-seed={seed}")


# Fixtures that cost tens of seconds and are shared by several tests (session or module scope): under
# ``pytest -n 2`` the tests using one of them are one group, run by one process, which builds it once.
SHARED_COSTLY_FIXTURES = ("trained_run", "keras_run", "mlflow_server")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Every test that needs the trained run (a 3-epoch train.py run) is slow; tests sharing a costly fixture
    form one xdist group (``--dist loadgroup``, pyproject.toml)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "trained_run" in fixtures:
            item.add_marker(pytest.mark.slow)
        shared = next((name for name in SHARED_COSTLY_FIXTURES if name in fixtures), None)
        if shared is not None:
            item.add_marker(pytest.mark.xdist_group(shared))


def pytest_configure(config):
    """Tests start from the seeds of ``_pynative_and_seed``: pytest-randomly would reseed numpy's global generator
    after the fixtures, from its run seed and the test's id, and MindSpore's initializers draw their seeds from
    it, so every run would start a test from other initial weights (a numerical bound then holds for most runs
    only). The order stays random.

    Refuse ``-n`` where pytest-xdist's groups fall apart: xdist 3.8 tags a group on a node attribute that pytest
    9.2 replaced, so grouped tests would run in both processes (the test extra keeps pytest below 9.2)."""
    if config.pluginmanager.has_plugin("randomly"):
        config.option.randomly_reset_seed = False
    version = tuple(int(part) for part in pytest.__version__.split(".")[:2] if part.isdigit())
    if config.getoption("numprocesses", None) and config.getoption("dist", "no") == "loadgroup" and version >= (9, 2):
        raise pytest.UsageError(f"pytest {pytest.__version__} with pytest-xdist runs the test groups of "
                                "tests/conftest.py in both processes: install pytest<9.2 (the test extra's pin) or "
                                "run with -n 0.")


@pytest.fixture(autouse=True)
def _pynative_and_seed():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    np.random.seed(0)
    started = time.perf_counter()
    yield
    if time.perf_counter() - started > 1.0:
        # Cells hold reference cycles: a test's models and their tensors go only when the cycle collector runs,
        # which a long suite otherwise leaves to pile up (the whole suite in one process peaked above 12 GB).
        gc.collect()


@pytest.fixture
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger="mindcv")
    return caplog


@pytest.fixture
def image_folder(tmp_path):
    """root/{train,val}/{cat,dog,emu}/ with 5 train and 3 val JPEGs per class; val lacks 'emu'."""
    root = tmp_path / "imgs"
    for split, count in (("train", 5), ("val", 3)):
        for c, name in enumerate(("cat", "dog", "emu")):
            if split == "val" and name == "emu":
                continue
            for i in range(count):
                write_image(root / split / name / f"{i}.jpg", value=40 * c + i, seed=i)
    return root


@pytest.fixture(scope="session")
def colour_images(tmp_path_factory):
    """Three easily separated classes (noisy red, green, blue squares): 16 train and 6 val images each."""
    return make_colour_folder(tmp_path_factory.mktemp("colours"), 16, 6)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, colour_images):
    """The run directory of a 3-epoch graph-mode train.py run on ``colour_images`` (checkpoints, metrics, plot)."""
    import train

    run_dir = tmp_path_factory.mktemp("run")
    # lr 3e-4, BN momentum 0.5 and mild crops keep 18 steps of batch 8 stable in eval mode; the upstream
    # defaults are tuned for ImageNet-length runs.
    argv = TRAIN_ARGS + ["--dataset", "imagefolder", "--data_dir", str(colour_images), "--num_classes", "3",
                         "--mode", "0", "--epoch_size", "3", "--keep_checkpoint_max", "2", "--lr", "0.0003",
                         "--bn_momentum", "0.5", "--scale", "[0.7, 1.0]", "--ckpt_save_dir", str(run_dir),
                         "--val_while_train", "True"]
    assert train.main(argv) == 0
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return run_dir
