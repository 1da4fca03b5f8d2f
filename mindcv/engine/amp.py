"""Mixed precision, in one place for training and validation (MindCV's levels and cell lists).

``O1`` runs the white-listed cells (convolutions and dense layers, or ``amp_cast_list``) in float16 and casts
their outputs back to float32; ``O2`` runs everything in float16 except the black-listed cells (BatchNorm and
LayerNorm, or ``amp_cast_list``), which compute in float32; ``O3`` runs everything in float16; ``auto`` is
MindSpore's operator-level automatic mixed precision. The loss always sees float32 logits
(:class:`LossNetwork`).
"""
import logging
from typing import Optional, Sequence, Tuple, Union

import mindspore as ms
from mindspore import Tensor, nn, ops

from ..utils.errors import ConfigError

__all__ = ["auto_mixed_precision", "LossNetwork", "parse_cast_list", "AMP_WHITE_LIST", "AMP_BLACK_LIST", "AMP_LEVELS"]

AMP_LEVELS = ("O0", "O1", "O2", "O3", "auto")

_logger = logging.getLogger(__name__)

AMP_WHITE_LIST = (nn.Dense, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Conv1dTranspose, nn.Conv2dTranspose,
                  nn.Conv3dTranspose)
AMP_BLACK_LIST = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm)


class _CastOutput(nn.Cell):
    """``cell`` followed by a cast of its output to ``dtype`` (parameter names unchanged)."""

    def __init__(self, cell: nn.Cell, dtype):
        super().__init__(auto_prefix=False)
        self.cell = cell
        self.dtype = dtype

    def construct(self, x):
        return ops.cast(self.cell(x), self.dtype)


def parse_cast_list(text: Union[str, Sequence[type], None]) -> Optional[Tuple[type, ...]]:
    """``amp_cast_list`` such as ``"[nn.Conv2d, nn.Dense]"`` (or the classes themselves) as cell classes.

    MindCV evaluates the string as Python; here only ``nn.<Cell>`` names are accepted.
    """
    if not text:
        return None
    if not isinstance(text, str):
        return tuple(text)
    names = [part.strip() for part in text.strip().strip("[]()").split(",") if part.strip()]
    classes = []
    for name in names:
        attr = name[3:] if name.startswith("nn.") else name
        cls = getattr(nn, attr, None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Cell)):
            raise ConfigError(f"amp_cast_list entry '{name}' is not a mindspore.nn cell class (e.g. nn.Conv2d).")
        classes.append(cls)
    return tuple(classes)


def _wrap_cells(network: nn.Cell, classes: Tuple[type, ...], compute, output) -> None:
    """Run every cell of ``classes`` in ``compute`` precision with its output cast to ``output``."""
    changed = False
    for name, cell in network.name_cells().items():
        if cell is network:
            continue
        if isinstance(cell, classes):
            network._cells[name] = _CastOutput(cell.to_float(compute), output)
            changed = True
        else:
            _wrap_cells(cell, classes, compute, output)
    if changed and isinstance(network, nn.SequentialCell):
        network.cell_list = list(network.cells())


def auto_mixed_precision(network: nn.Cell, amp_level: str = "O0",
                         amp_cast_list: Union[str, Sequence[type], None] = None) -> nn.Cell:
    """Convert ``network`` for ``amp_level`` (O0-O3 in place; ``auto`` wraps it) and return the network to run
    (MindCV's function, which returns nothing and refuses ``auto``)."""
    classes = parse_cast_list(amp_cast_list)
    if amp_level == "O0":
        return network
    if amp_level == "O1":
        _wrap_cells(network, classes or AMP_WHITE_LIST, ms.float16, ms.float32)
    elif amp_level == "O2":
        network.to_float(ms.float16)
        _wrap_cells(network, classes or AMP_BLACK_LIST, ms.float32, ms.float16)
    elif amp_level == "O3":
        network.to_float(ms.float16)
    elif amp_level == "auto":
        return ms.amp.auto_mixed_precision(network, "auto")
    else:
        raise ConfigError(f"amp_level must be one of {', '.join(AMP_LEVELS)}, got {amp_level!r}.")
    if classes and amp_level == "O3":
        _logger.info("amp_cast_list has no effect with amp_level O3 (as in MindCV).")
    return network


class LossNetwork(nn.Cell):
    """``loss(network(images) as float32, labels)``."""

    def __init__(self, network: nn.Cell, loss: nn.Cell):
        super().__init__(auto_prefix=False)
        self.network = network
        self.loss = loss

    def construct(self, images: Tensor, labels: Tensor) -> Tensor:
        logits = self.network(images)
        return self.loss(ops.cast(logits, ms.float32), labels)
