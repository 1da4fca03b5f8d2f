"""The training step on tiny cells with fixed data: values, not shapes (EMA, clipping, accumulation, loss scaling,
overflow handling, statistics)."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn, ops

from mindcv.engine.train_step import LossScale, TrainStep, create_loss_scale
from mindcv.optim import create_optimizer

X = np.random.default_rng(0).normal(0, 1, (4, 3)).astype(np.float32)
Y = np.random.default_rng(1).normal(0, 1, (4, 2)).astype(np.float32)
W0 = np.random.default_rng(2).normal(0, 1, (2, 3)).astype(np.float32)


class Linear(nn.Cell):
    """``x @ w.T``: the model whose parameters are trained."""

    def __init__(self):
        super().__init__()
        self.w = Parameter(Tensor(W0.copy()), name="w")

    def construct(self, x):
        return ops.matmul(x, self.w.T)


class Mse(nn.Cell):
    """Mean squared error of ``model`` (gradient 2/N * (xw - y) x)."""

    def __init__(self, model, scale=1.0):
        super().__init__()
        self.model = model
        self.scale = scale

    def construct(self, x, y):
        return ops.mean(ops.square(self.model(x) - y)) * self.scale


class Dot(nn.Cell):
    """``sum(w * c)``: a constant gradient ``c``, whatever the weights."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def construct(self, x, y):
        return ops.sum(self.model.w * x[:2, :3])


def _grad(x, y, w):
    return 2.0 / y.size * (x @ w.T - y).T @ x


def _step(network, model, lr=0.1, scale=None, **kwargs):
    optimizer = create_optimizer(model, "sgd", lr=lr, momentum=0.0, loss_scale=(scale or LossScale(1.0, 1.0))
                                 .optimizer_scale)
    step = TrainStep(network, optimizer, scale or LossScale(1.0, 1.0), model=model, **kwargs)
    step.set_train(True)
    return step


def _run(step, times=1, x=X, y=Y):
    """(loss, whether the update was skipped, the scale the step used) of each step."""
    outputs = []
    for _ in range(times):
        scale, skipped = float(step.scale_sense.asnumpy()), float(step.stat_skipped.asnumpy())
        loss = float(step(Tensor(x), Tensor(y)).asnumpy())
        outputs.append((loss, float(step.stat_skipped.asnumpy()) > skipped, scale))
    return outputs


def test_plain_step_is_sgd():
    model = Linear()
    _run(_step(Mse(model), model))
    np.testing.assert_allclose(model.w.asnumpy(), W0 - 0.1 * _grad(X, Y, W0), rtol=1e-6)


def test_ema_follows_the_closed_form_with_warmup():
    """Constant gradient c: w_t = w_0 - lr t c; EMA e_t = d_t e_{t-1} + (1 - d_t) w_t, d_t = 0.9 (1 - e^{-t/2000})."""
    model = Linear()
    step = _step(Dot(model), model, ema=True, ema_decay=0.9)
    _run(step, times=5)
    c = X[:2, :3]
    ema = W0.astype(np.float64)
    for t in range(1, 6):
        decay = 0.9 * (1 - math.exp(-t / 2000))
        ema = ema * decay + (W0 - 0.1 * t * c) * (1 - decay)
    np.testing.assert_allclose(step.ema_params[0].asnumpy(), ema, rtol=1e-6)
    assert step.ema_params[0].name == "ema." + model.w.name and float(step.ema_updates.asnumpy()) == 5


def test_clipping_equals_the_global_norm_formula():
    model = Linear()
    _run(_step(Mse(model), model, lr=1.0, clip_grad=True, clip_value=0.5))
    grad = _grad(X, Y, W0)
    np.testing.assert_allclose(model.w.asnumpy(), W0 - grad * min(1.0, 0.5 / np.linalg.norm(grad)), rtol=1e-5)


def test_accumulated_micro_batches_equal_one_large_batch():
    big, small = Linear(), Linear()
    _run(_step(Mse(big), big))
    step = _step(Mse(small), small, gradient_accumulation_steps=2)
    _run(step, x=X[:2], y=Y[:2])
    assert np.array_equal(small.w.asnumpy(), W0)  # nothing applied after the first micro-batch
    _run(step, x=X[2:], y=Y[2:])
    np.testing.assert_allclose(small.w.asnumpy(), big.w.asnumpy(), rtol=1e-6, atol=1e-6)
    assert float(np.abs(step.accum_grads[0].asnumpy()).max()) == 0.0  # cleared after applying


@pytest.mark.parametrize("custom_step", [True, False])
def test_fixed_loss_scale_leaves_the_update_unchanged(custom_step):
    plain, scaled = Linear(), Linear()
    _run(_step(Mse(plain), plain))
    scale = create_loss_scale("fixed", 1024.0, False, "O0", custom_step)
    assert scale.unscale_in_step is custom_step  # the optimizer divides it out otherwise, as in MindCV
    _run(_step(Mse(scaled), scaled, scale=scale))
    np.testing.assert_allclose(scaled.w.asnumpy(), plain.w.asnumpy(), rtol=1e-6)


def test_unscaling_multiplies_by_the_reciprocal_as_mindcv():
    model = Linear()
    scale = create_loss_scale("fixed", 1000.0, False, "O0", custom_step=True)
    _run(_step(Dot(model), model, lr=1.0, scale=scale))
    scaled = np.float32(1000.0) * X[:2, :3]  # the gradient of sum(w * c) for the loss scaled by 1000
    expected = W0 - scaled * (np.float32(1.0) / np.float32(1000.0))
    assert not np.array_equal(expected, W0 - scaled / np.float32(1000.0))  # the two roundings differ here
    assert np.array_equal(model.w.asnumpy(), expected)


def test_a_constant_scale_of_one_is_not_divided_out():
    assert not create_loss_scale("fixed", 1.0, False, "O0", custom_step=True).unscale_in_step
    assert create_loss_scale("fixed", 2.0, False, "O0", custom_step=True).unscale_in_step
    assert create_loss_scale("dynamic", 1.0, False, "O0", custom_step=False).unscale_in_step


def test_dynamic_scale_skips_overflow_halves_and_grows_after_the_window():
    model = Linear()
    cell = nn.DynamicLossScaleUpdateCell(loss_scale_value=2.0 ** 127, scale_factor=2, scale_window=3)
    step = _step(Mse(model, scale=2.0 ** 10), model, scale=LossScale(cell, 1.0))
    first = _run(step)[0]
    assert first[1] is True and np.array_equal(model.w.asnumpy(), W0)  # overflow: skipped
    assert float(step.scale_sense.asnumpy()) == 2.0 ** 126  # halved
    step.scale_sense.set_data(Tensor(4.0, ms.float32))
    results = _run(step, times=3)
    assert [r[1] for r in results] == [False] * 3 and float(step.scale_sense.asnumpy()) == 8.0  # grew
    assert not np.array_equal(model.w.asnumpy(), W0)
    assert float(step.stat_skipped.asnumpy()) == 1.0


def test_drop_overflow_update_with_a_fixed_scale_skips_but_keeps_the_scale():
    model = Linear()
    scale = create_loss_scale("fixed", 2.0 ** 127, True, "O0", custom_step=False)
    step = _step(Mse(model, scale=2.0 ** 10), model, scale=scale)
    assert _run(step)[0][1] is True and np.array_equal(model.w.asnumpy(), W0)
    assert float(step.scale_sense.asnumpy()) == 2.0 ** 127


def test_without_overflow_handling_a_non_finite_step_is_applied_and_counted():
    model = Linear()
    step = _step(Mse(model), model)
    bad_x = X.copy()
    bad_x[0, 0] = np.inf
    _run(step, x=bad_x)
    _run(step, x=bad_x)
    assert float(step.stat_nonfinite_run.asnumpy()) == 2 and float(step.stat_nonfinite.asnumpy()) == 2
    assert not np.isfinite(model.w.asnumpy()).all()  # applied: the trainer stops on the run of non-finite losses
    model.w.set_data(Tensor(W0.copy()))
    loss = _run(step)[0][0]
    assert float(step.stat_nonfinite_run.asnumpy()) == 0 and float(step.stat_finite.asnumpy()) == 1
    assert float(step.stat_loss_sum.asnumpy()) == pytest.approx(loss)


def test_dropout_counter_advances_once_per_step():
    model = Linear()
    counter = Parameter(Tensor(0, ms.int64), name="rng_step", requires_grad=False)
    step = _step(Mse(model), model, rng_step=counter)
    _run(step, times=3)
    assert int(counter.asnumpy()) == 3


@pytest.mark.parametrize("kind, amp, expected", [("auto", "O2", ("dynamic", 2.0 ** 24)), ("auto", "O0", ("fixed", 1.0)),
                                                 ("dynamic", "O0", ("dynamic", 64.0))])
def test_loss_scale_types(kind, amp, expected):
    scale = create_loss_scale(kind, 64.0, False, amp, custom_step=False)
    is_dynamic = isinstance(scale.sense, nn.DynamicLossScaleUpdateCell)
    value = scale.sense.get_loss_scale() if is_dynamic else scale.sense
    assert ("dynamic" if is_dynamic else "fixed", value) == expected and scale.optimizer_scale == 1.0


def test_mindcv_signature_takes_a_number_and_returns_the_loss():
    """TrainStep(network, optimizer, scale_sense=8.0): the step divides the scale out itself (MindCV's
    TrainStep), so the update is plain SGD; it returns the loss."""
    model = Linear()
    optimizer = create_optimizer(model, "sgd", lr=0.1, momentum=0.0)
    step = TrainStep(Mse(model), optimizer, 8.0)
    step.set_train(True)
    loss = step(Tensor(X), Tensor(Y))
    assert isinstance(loss, Tensor) and loss.shape == ()
    np.testing.assert_allclose(model.w.asnumpy(), W0 - 0.1 * _grad(X, Y, W0), rtol=1e-6)
    assert float(step.scale_sense.asnumpy()) == 8.0
