"""The networks the engine runs around a model: input normalisation on the device, and a classification
network whose dropout is reproducible (its mask is a hash of the seed, the step and the position).

The data pipeline hands over HWC uint8 (or float) images; :class:`NormalizeInput` casts, normalises and
transposes them inside the compiled graph, which costs the device little and saves the data workers about
half of their time per image.
"""
from typing import Sequence

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

__all__ = ["NormalizeInput", "ClassificationNetwork", "KeyedDropout"]

_MASK32 = 0xFFFFFFFF


class NormalizeInput(nn.Cell):
    """``(x - mean) / std`` on NHWC images (any dtype), returned as float32 NCHW; then ``network``."""

    def __init__(self, network: nn.Cell, mean: Sequence[float], std: Sequence[float]):
        super().__init__(auto_prefix=False)
        self.network = network
        self.mean = Tensor(np.asarray(mean, np.float32).reshape(1, 1, 1, -1))
        self.std = Tensor(np.asarray(std, np.float32).reshape(1, 1, 1, -1))

    def construct(self, images: Tensor) -> Tensor:
        x = (images.astype(ms.float32) - self.mean) / self.std
        return self.network(ops.transpose(x, (0, 3, 1, 2)))


def _mix32(h: Tensor) -> Tensor:
    h = ops.bitwise_and(ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16)) * 0x45D9F3B, _MASK32)
    h = ops.bitwise_and(ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16)) * 0x45D9F3B, _MASK32)
    return ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16))


class KeyedDropout(nn.Cell):
    """Inverted dropout whose keep mask is a hash of (``seed``, ``step``, element position): the same seed and
    step give the same mask in any process, mode or resumed run. ``step`` is a shared counter that the training
    step advances after every forward pass (reading it has no side effect, so a recomputed forward pass sees
    the same mask)."""

    def __init__(self, p: float, seed: int, step: Parameter):
        super().__init__()
        self.p = p
        self.seed = int(seed) & 0x7FFFFFFF
        self.step = step

    def construct(self, x: Tensor) -> Tensor:
        if not self.training or self.p <= 0:
            return x
        position = ops.arange(0, x.size, dtype=ms.int64).reshape(x.shape)
        key = ops.bitwise_and(position + self.step * 1000003 + self.seed * 7919, _MASK32)
        uniform = _mix32(_mix32(key)).astype(ms.float32) * (1.0 / 4294967296.0)
        keep = (uniform >= self.p).astype(x.dtype)
        return x * keep / (1.0 - self.p)


class ClassificationNetwork(nn.Cell):
    """``model``'s features, pooling, :class:`KeyedDropout` and classifier: its logits, with reproducible
    dropout in training. The model must provide ``forward_features``, ``forward_head(x, pre_logits=True)`` and
    ``classifier`` (every model here does). ``rng_step`` counts forward passes; ``rank`` gives each
    data-parallel rank its own masks."""

    def __init__(self, model: nn.Cell, drop_rate: float, seed: int, rank: int = 0):
        super().__init__(auto_prefix=False)
        self.model = model
        self.rng_step = Parameter(Tensor(0, ms.int64), name="rng_step", requires_grad=False)
        self.dropout = KeyedDropout(drop_rate, seed + 1_000_003 * rank, self.rng_step)

    def construct(self, x: Tensor) -> Tensor:
        pooled = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return self.model.classifier(self.dropout(pooled))
