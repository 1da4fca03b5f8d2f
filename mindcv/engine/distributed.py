"""Data-parallel helpers: sums over ranks and parameter averaging."""
from typing import List

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

__all__ = ["AllReduceSum", "all_reduce_sum", "average_parameters", "gather_parameters"]


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


def _flatten(params: List[ms.Parameter]) -> np.ndarray:
    return np.concatenate([p.asnumpy().astype(np.float32).ravel() for p in params])


def _split(vector: np.ndarray, params: List[ms.Parameter]) -> List[np.ndarray]:
    """``vector`` cut into arrays of the shapes of ``params`` (the inverse of :func:`_flatten`)."""
    ends = np.cumsum([int(np.prod(p.shape)) for p in params])
    return [piece.reshape(p.shape) for piece, p in zip(np.split(vector, ends[:-1]), params)]


def average_parameters(params: List[ms.Parameter], group_size: int) -> None:
    """Replace ``params`` by their mean over the ranks: identical start weights whatever the seeds, and
    identical BN statistics (each rank collects its own) before validation and checkpoints."""
    mean = all_reduce_sum(_flatten(params)) / group_size
    for param, value in zip(params, _split(mean, params)):
        param.set_data(ms.Tensor(value.astype(np.float32)))


def gather_parameters(params: List[ms.Parameter], rank: int, group_size: int) -> List[List[np.ndarray]]:
    """Every rank's values of ``params`` (``[rank][param]``), on every rank, leaving them unchanged: each rank
    fills its row of a zero matrix, and the sum over the ranks gathers the rows (exactly: the rest are zeros)."""
    flat = _flatten(params)
    slots = np.zeros((group_size, flat.size), np.float32)
    slots[rank] = flat
    gathered = all_reduce_sum(slots.ravel()).astype(np.float32).reshape(group_size, flat.size)
    return [_split(row, params) for row in gathered]
