"""create_trainer: MindCV's trainer, the same steps as MindCV's own (golden), customised steps through TrainStep."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset

from mindcv.engine.train_step import TrainStep
from mindcv.engine.trainer_factory import create_trainer, get_metrics, require_customized_train_step
from mindcv.loss import create_loss
from mindcv.models import create_model
from mindcv.optim import create_optimizer
from mindcv.scheduler import create_scheduler
from mindcv.utils.errors import ConfigError
from tests import golden_cases as cases


@pytest.mark.slow
def test_recipe_steps_through_create_trainer_change_every_tensor_as_mindcv():
    """The recorded MindCV run *is* MindCV's create_trainer: the same call here gives the same updates."""
    r = cases.RECIPE
    amp_level, mode = cases.RECIPE_RUNS["O0-pynative"]
    ms.set_context(mode=mode)
    network = create_model("xception", num_classes=cases.RECIPE_NUM_CLASSES, drop_rate=0.0, use_cpu_kernels=False)
    for param in network.get_parameters():
        param.set_data(ms.Tensor(cases.deterministic_value(param.name, param.shape)))
    schedule = create_scheduler(r["steps_per_epoch"], r["scheduler"], lr=r["lr"], min_lr=r["min_lr"],
                                warmup_epochs=r["warmup_epochs"], warmup_factor=r["warmup_factor"],
                                decay_epochs=r["decay_epochs"], num_epochs=r["num_epochs"])
    optimizer = create_optimizer(network, r["opt"], lr=schedule, weight_decay=r["weight_decay"],
                                 momentum=r["momentum"], loss_scale=r["loss_scale"])
    loss = create_loss(r["loss"], label_smoothing=r["label_smoothing"])
    trainer = create_trainer(network, loss, optimizer, get_metrics(10), amp_level, None, "fixed", r["loss_scale"])
    step = trainer._train_network
    step.set_train(True)
    batch, labels = cases.recipe_normalised_batch()
    losses = [float(step(ms.Tensor(batch), ms.Tensor(labels)).asnumpy()) for _ in range(cases.RECIPE_STEPS)]
    expected = cases.recipe_step_fixture("O0-pynative")
    assert losses == pytest.approx(expected["losses"], rel=1e-6)
    worst = max(cases.sketch_difference(cases.update_sketch(p.name, p.asnumpy() - cases.deterministic_value(
        p.name, p.shape)), expected["updates"][p.name]) for p in network.get_parameters())
    assert worst <= 1e-3


def _tiny():
    net = nn.Dense(3, 2, weight_init="ones", bias_init="zeros")
    data = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    labels = np.array([0, 1] * 4, np.int32)
    return net, data, labels


def test_customised_steps_run_this_packages_train_step():
    net, data, labels = _tiny()
    assert require_customized_train_step(ema=True) and not require_customized_train_step()
    loss = create_loss("CE")
    optimizer = create_optimizer(net, "sgd", lr=0.1, momentum=0.0)
    trainer = create_trainer(net, loss, optimizer, get_metrics(2), "O0", None, "fixed", 8.0, ema=True, ema_decay=0.5)
    assert isinstance(trainer._train_network, TrainStep)
    trainer.train(1, NumpySlicesDataset((data, labels), ["x", "y"], shuffle=False).batch(4), dataset_sink_mode=False)
    reference, _, _ = _tiny()
    step = TrainStep(nn.WithLossCell(reference, loss), create_optimizer(reference, "sgd", lr=0.1, momentum=0.0), 8.0,
                     ema=True, ema_decay=0.5)
    for start in (0, 4):
        step(ms.Tensor(data[start:start + 4]), ms.Tensor(labels[start:start + 4]))
    np.testing.assert_array_equal(net.weight.asnumpy(), reference.weight.asnumpy())
    ema = {p.name: p.asnumpy() for p in trainer._train_network.get_parameters() if p.name.startswith("ema.")}
    np.testing.assert_array_equal(ema["ema.weight"], step.ema_params[0].asnumpy())
    evaluation = trainer.eval(NumpySlicesDataset((data, labels), ["x", "y"], shuffle=False).batch(4))
    assert set(evaluation) == {"Top_1_Accuracy"} and 0.0 <= evaluation["Top_1_Accuracy"] <= 1.0


@pytest.mark.parametrize("kwargs, message", [(dict(loss_scale=0.5), "loss_scale must be >= 1"),
                                             (dict(loss_scale_type="dynamic"), "set drop_overflow_update True"),
                                             (dict(gradient_accumulation_steps=0), "must be >= 1")])
def test_bad_trainer_options(kwargs, message):
    net, _, _ = _tiny()
    options = dict(dict(loss_scale_type="fixed", loss_scale=1.0), **kwargs)
    with pytest.raises(ConfigError, match=message):
        create_trainer(net, create_loss("CE"), create_optimizer(net, "sgd", lr=0.1), {}, "O0", None, **options)


