import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.models.xception import Xception
from mindcv.optim import create_optimizer, split_weight_decay


class Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, has_bias=True)
        self.bn = nn.BatchNorm2d(2)

    def construct(self, x):
        return self.bn(self.conv(x))


def test_weight_decay_filter_excludes_bn_and_bias():
    params = Xception(num_classes=10).trainable_params()
    for kind in ("auto", "norm_and_bias"):
        decay, no_decay, order = split_weight_decay(params, 1e-4, kind)
        assert all(p.name.endswith(("gamma", "beta", "bias")) for p in no_decay["params"])
        assert all(p.name.endswith("weight") for p in decay["params"])
        assert len(decay["params"]) + len(no_decay["params"]) == len(params) == len(order["order_params"])
    assert split_weight_decay(params, 1e-4, "disable") == list(params)
    with pytest.raises(ValueError, match="weight_decay_filter"):
        split_weight_decay(params, 1e-4, "bn")


def test_filtered_parameters_really_do_not_decay():
    """Zero gradients: only decay moves a parameter."""
    net = Tiny()
    before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
    optimizer = create_optimizer(net.trainable_params(), "sgd", lr=0.1, weight_decay=0.5, weight_decay_filter="auto")
    optimizer(tuple(ms.Tensor(np.zeros(p.shape, np.float32)) for p in net.trainable_params()))
    after = {p.name: p.asnumpy() for p in net.trainable_params()}
    assert not np.allclose(after["conv.weight"], before["conv.weight"])
    for name in ("conv.bias", "bn.gamma", "bn.beta"):
        assert np.array_equal(after[name], before[name])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw", "rmsprop", "lion"])
def test_every_optimizer_takes_a_step(name):
    net = Tiny()
    before = net.conv.weight.asnumpy().copy()
    optimizer = create_optimizer(net.trainable_params(), name, lr=[0.01, 0.01], weight_decay=1e-4,
                                 weight_decay_filter="auto")
    optimizer(tuple(ms.Tensor(np.ones(p.shape, np.float32)) for p in net.trainable_params()))
    assert not np.allclose(net.conv.weight.asnumpy(), before)


def test_unknown_optimizer_suggests():
    with pytest.raises(ValueError, match="Did you mean: adamw"):
        create_optimizer(Tiny().trainable_params(), "adamW2")
