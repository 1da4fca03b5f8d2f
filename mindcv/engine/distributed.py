"""Data-parallel helpers: sums over ranks and parameter averaging."""
from typing import List

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

__all__ = ["AllReduceSum", "all_reduce_sum", "average_parameters"]


class AllReduceSum(nn.Cell):
    """The sum of a tensor over all ranks, on every rank (MindCV's cell). MindSpore's CPU backend reduces only
    float32 (MindCV's ``train.py`` fails there summing an int32 count), so other types are summed as float32 and
    cast back."""

    def __init__(self):
        super().__init__()
        self.reduce = ops.AllReduce(ops.ReduceOp.SUM)

    def construct(self, x: Tensor) -> Tensor:
        if x.dtype == ms.float32:
            return self.reduce(x)
        return self.reduce(x.astype(ms.float32)).astype(x.dtype)


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Sum a float vector over all ranks."""
    return AllReduceSum()(ms.Tensor(np.asarray(values, np.float32))).asnumpy().astype(np.float64)


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
