"""Data-parallel helpers: sums over ranks and parameter averaging (float32: the CPU backend reduces nothing else)."""
from typing import List

import mindspore as ms
import numpy as np
from mindspore import nn, ops

__all__ = ["all_reduce_sum", "average_parameters"]


class _AllReduceSum(nn.Cell):
    def __init__(self):
        super().__init__()
        self.reduce = ops.AllReduce()

    def construct(self, x):
        return self.reduce(x)


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Sum a float vector over all ranks."""
    return _AllReduceSum()(ms.Tensor(np.asarray(values, np.float32))).asnumpy().astype(np.float64)


def average_parameters(params: List[ms.Parameter], group_size: int) -> None:
    """Replace ``params`` by their mean over the ranks: identical start weights whatever the seeds, and
    identical BN statistics (each rank collects its own) before validation and checkpoints."""
    flat = np.concatenate([p.asnumpy().astype(np.float32).ravel() for p in params])
    mean = all_reduce_sum(flat) / group_size
    offset = 0
    for param in params:
        size = int(np.prod(param.shape))
        param.set_data(ms.Tensor(mean[offset: offset + size].reshape(param.shape).astype(np.float32)))
        offset += size
