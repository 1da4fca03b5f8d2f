"""What the engine runs around a model: input normalisation on the device.

The data pipeline hands over HWC uint8 (or float) images; :class:`NormalizeInput` casts, normalises and
transposes them inside the compiled graph, which costs the device little and saves the data workers about
half of their time per image.
"""
from typing import Sequence

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

__all__ = ["NormalizeInput"]


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
