"""What the builder makes of the options: the upstream Xception recipe trains as MindCV's factories train it."""
import json

import mindspore as ms
import mindspore.dataset as ds
import pytest

from mindcv.cli import restored_process_state
from mindcv.config import ConfigError, dump_config, parse_config
from mindcv.models.layers import KeyedDropout
from mindcv.run.builder import (TRAINING_QUEUE_CAPACITY, build_runtime, build_training, build_validation,
                                pipeline_settings, run_settings)
from mindcv.run.runtime import Runtime
from tests import golden_cases as cases
from tests.helpers import ROOT, TRAIN_ARGS, write_image

RECIPE = ROOT / "configs" / "xception" / "xception_ascend.yaml"


@pytest.fixture
def ten_classes(tmp_path):
    for index in range(cases.RECIPE_NUM_CLASSES):
        write_image(tmp_path / "train" / f"c{index}" / "0.jpg", seed=index)
    return tmp_path


def _recipe(data_dir, *extra):
    """The upstream recipe on a tiny folder: 2 steps per epoch of 2 images (as the recorded MindCV step)."""
    return parse_config(["-c", str(RECIPE), "--distribute", "False", "--data_dir", str(data_dir), "--batch_size", "2",
                         "--num_samples", "4", "--image_resize", "71", "--mode", "1", "--device_target", "CPU",
                         "--val_while_train", "False", "--num_parallel_workers", "1", "--num_classes", "10", *extra])


@pytest.mark.slow
@pytest.mark.parametrize("run", cases.RECIPE_RUNS)
def test_recipe_steps_change_every_tensor_as_mindcv(ten_classes, monkeypatch, run):
    """SGD momentum 0.9, warmup cosine schedule, CE with smoothing 0.1, fixed loss scale 1024, O2 in graph mode and
    O0 in PyNative mode: four steps
    on HWC uint8 images normalised on the device change every parameter as MindCV's train.py path does with the
    same images normalised in its pipeline (recorded sketches of each tensor's update, within 1e-3 of its size;
    equal bits give 0). MindCV's Xception always drops 0.5, so dropout is off on both sides."""
    monkeypatch.setenv("MINDCV_CPU_KERNELS", "0")  # MindCV runs MindSpore's own operators
    mean, std = (json.dumps(values) for values in (cases.RECIPE_MEAN, cases.RECIPE_STD))
    amp_level, mode = cases.RECIPE_RUNS[run]
    config = _recipe(ten_classes, "--drop_rate", "0", "--mean", mean, "--std", std, "--amp_level", amp_level,
                     "--mode", str(mode))
    ms.set_context(mode=mode)  # the autouse fixture of conftest.py restores PyNative mode
    parts = build_training(config, Runtime("CPU"))
    expected = cases.recipe_step_fixture(run)
    assert parts.steps_per_epoch == cases.RECIPE["steps_per_epoch"]
    assert parts.schedule[:cases.RECIPE_STEPS] == pytest.approx(expected["lr"])
    for param in parts.model.get_parameters():
        param.set_data(ms.Tensor(cases.deterministic_value(param.name, param.shape)))
    images, labels = cases.recipe_batch()
    losses = [float(parts.step(ms.Tensor(images), ms.Tensor(labels)).asnumpy()) for _ in range(cases.RECIPE_STEPS)]
    params = {p.name: p.asnumpy() for p in parts.model.get_parameters()}
    assert set(params) == set(expected["updates"])
    differences = {name: cases.sketch_difference(
        cases.update_sketch(name, value - cases.deterministic_value(name, value.shape)), expected["updates"][name])
        for name, value in params.items()}
    worst = max(differences, key=differences.get)
    assert differences[worst] <= 1e-3, f"{worst}: update differs from MindCV's by {differences[worst]:.2e} of its size"
    assert losses == pytest.approx(expected["losses"], rel=1e-6)


@pytest.mark.parametrize("extra, message", [
    (["--ckpt_save_policy", "top_k"], "top_k ranks checkpoints by validation top-1"),
    (["--num_classes", "7"], "has 10 classes but num_classes is 7"),
    (["--image_resize", "64"], "minimum input of 71"),
])
def test_inconsistent_options_are_refused_before_training(ten_classes, extra, message):
    with pytest.raises(ConfigError, match=message):
        build_training(_recipe(ten_classes, *extra), Runtime("CPU"))


def test_options_without_effect_are_logged(ten_classes, info_logs):
    build_training(_recipe(ten_classes, "--drop_path_rate", "0.1", "--aux_factor", "0.4"), Runtime("CPU"))
    assert "drop_path_rate=0.1 has no effect" in info_logs.text and "aux_factor=0.4 has no effect" in info_logs.text


@pytest.mark.parametrize("processes", [True, False])
def test_recipe_augmentation_runs_per_batch_in_processes_unless_turned_off(ten_classes, processes):
    """AutoAugment and erasing run after batching, in MindSpore's worker processes by default."""
    parts = build_training(_recipe(ten_classes, "--python_multiprocessing", str(processes)), Runtime("CPU"))
    stage = parts.train_loader
    while not isinstance(stage, ds.MapDataset):
        stage = stage.children[0]
    assert type(stage.operations[0]).__name__ == "BatchAugment" and isinstance(stage.children[0], ds.BatchDataset)
    assert stage.python_multiprocessing is processes


def test_training_runs_the_models_own_head_with_the_steps_keyed_dropout(ten_classes):
    """One head for training and inference: the network the step trains is the model's forward (its dropout slot
    holds the keyed dropout, reading the counter the step advances and saves), and evaluation scores the same
    cell; the model's parameters are its weights only."""
    parts = build_training(_recipe(ten_classes, "--drop_rate", "0.3", "--seed", "5"), Runtime("CPU"))
    dropout = parts.model.dropout
    assert isinstance(dropout, KeyedDropout) and dropout.p == 0.3 and dropout.seed == 5
    assert dropout.step is parts.step.rng_step
    assert parts.eval_network.network is parts.step.network.network.network  # LossNetwork(NormalizeInput(model))
    assert "rng_step" not in {p.name for p in parts.model.get_parameters()}
    assert "rng_step" in {p.name for p in parts.step.get_parameters()}


def test_pipeline_settings_hold_for_a_run_and_are_put_back():
    before = ds.config.get_prefetch_size(), ds.config.get_seed()
    with pipeline_settings():
        assert ds.config.get_prefetch_size() == TRAINING_QUEUE_CAPACITY != before[0]
        ds.config.set_seed(before[1] + 5)  # as a run reseeds every epoch
    assert (ds.config.get_prefetch_size(), ds.config.get_seed()) == before


@pytest.mark.slow
@pytest.mark.parametrize("frozen", [True, False])
def test_freeze_bn_keeps_the_moving_statistics_and_trains_the_rest(ten_classes, frozen):
    """With freeze_bn a training step normalises with the moving statistics and leaves them as they are, while
    gamma/beta and the convolutions learn; without it the statistics move."""
    import numpy as np

    config = _recipe(ten_classes, "--drop_rate", "0", "--freeze_bn", str(frozen), "--loss_scale", "1", "--scheduler",
                     "constant", "--warmup_epochs", "0", "--lr", "0.01", "--amp_level", "O0")
    parts = build_training(config, Runtime("CPU"))
    before = {p.name: p.asnumpy().copy() for p in parts.model.get_parameters()}
    images, labels = next(parts.train_loader.create_tuple_iterator(num_epochs=1))
    parts.step(images, labels)
    after = {p.name: p.asnumpy() for p in parts.model.get_parameters()}
    moved = {name for name in before if not np.array_equal(before[name], after[name])}
    statistics = {name for name in before if "moving_" in name}
    assert len(statistics) == 2 * 40  # every BatchNorm of Xception
    assert (moved & statistics == set()) if frozen else (statistics <= moved)
    assert {"bn1.gamma", "bn1.beta", "conv1.weight", "classifier.weight"} <= moved


def test_the_run_settings_are_the_options_they_are_named_after():
    config = parse_config([*TRAIN_ARGS, "--epoch_size", "7", "--seed", "3", "--ema", "True", "--ckpt_save_dir", "d",
                           "--overwrite", "True", "--ckpt_path", "x.ckpt", "--resume_opt", "True", "--val_interval",
                           "2", "--ckpt_save_interval", "3", "--keep_checkpoint_max", "4", "--ckpt_save_policy",
                           "latest_k", "--log_interval", "5", "--max_nonfinite_steps", "6", "--tensorboard", "False",
                           "--mlflow_experiment", "e"])
    s = run_settings(config)
    assert (s.model, s.epochs, s.batch_size, s.seed, s.ema) == ("xception", 7, 8, 3, True)
    assert (s.save_dir, s.overwrite, s.checkpoint, s.resume) == ("d", True, "x.ckpt", True)
    assert (s.val_interval, s.save_interval, s.keep_checkpoint_max, s.save_policy) == (2, 3, 4, "latest_k")
    assert (s.log_interval, s.max_nonfinite_steps) == (5, 6)
    assert s.tracking == {"tensorboard": False, "mlflow": False, "mlflow_tracking_uri": "", "mlflow_experiment": "e"}
    assert s.options_yaml == dump_config(config) and s.options == vars(config)


def test_validation_refuses_random_weights_before_reading_any_image(tmp_path):
    config = parse_config([*TRAIN_ARGS, "--dataset", "imagefolder", "--data_dir", str(tmp_path / "nothing here")])
    with restored_process_state():
        runtime = build_runtime(config)
        with pytest.raises(ConfigError, match="never evaluates random weights"):
            build_validation(config, runtime)
