"""Feature-map extraction: wrap a model so it returns intermediate feature maps instead of logits.

:class:`FeatureExtractor` serves this package's models (their ``forward_intermediates``);
:class:`FeatureExtractWrapper` is MindCV's wrapper for models of one's own that list their stages in
``feature_info`` and run their top-level cells in order.
"""
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mindspore import Tensor, nn

from ..utils.errors import ConfigError

__all__ = ["FeatureInfo", "FeatureExtractor", "FeatureExtractWrapper"]


class FeatureInfo:
    """Channels and stride (reduction) of the feature maps a model can return."""

    def __init__(self, stages: Sequence[Dict], out_indices: Sequence[int]):
        self.stages = [dict(s) for s in stages]
        self.out_indices = tuple(out_indices)

    def channels(self) -> List[int]:
        return [self.stages[i]["num_chs"] for i in self.out_indices]

    def reduction(self) -> List[int]:
        return [self.stages[i]["reduction"] for i in self.out_indices]

    def module_name(self) -> List[str]:
        return [self.stages[i]["module"] for i in self.out_indices]

    def __len__(self) -> int:
        return len(self.out_indices)


def resolve_out_indices(num_stages: int, out_indices: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """Validate ``out_indices`` (negative indices count from the end); ``None`` selects every stage."""
    if out_indices is None:
        return tuple(range(num_stages))
    resolved = []
    for index in out_indices:
        if not isinstance(index, int) or not -num_stages <= index < num_stages:
            raise ConfigError(f"out_indices {list(out_indices)} invalid: each must be an int in "
                             f"[{-num_stages}, {num_stages - 1}] (this model has {num_stages} feature stages).")
        resolved.append(index % num_stages)
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"out_indices {list(out_indices)} name the same stage twice.")
    return tuple(sorted(resolved))


class FeatureExtractor(nn.Cell):
    """Returns the selected intermediate feature maps of ``model`` as a tuple.

    The wrapped model must define ``feature_info`` (a list of dicts with ``num_chs``, ``reduction``,
    ``module``) and ``forward_intermediates(x, indices)``. Parameter names stay those of the model.
    """

    def __init__(self, model: nn.Cell, out_indices: Optional[Sequence[int]] = None):
        super().__init__(auto_prefix=False)
        self.model = model
        self.out_indices = resolve_out_indices(len(model.feature_info), out_indices)
        self.feature_info = FeatureInfo(model.feature_info, self.out_indices)

    def construct(self, x: Tensor) -> Tuple[Tensor, ...]:
        return self.model.forward_intermediates(x, self.out_indices)


def _stage_value(stage: Dict, *keys: str):
    """A ``feature_info`` entry's value under MindCV's key (``chs``, ``name``) or timm's (``num_chs``, ``module``)."""
    for key in keys:
        if key in stage:
            return stage[key]
    raise ConfigError(f"feature_info entry {stage} has none of the keys {keys}.")


def _top_level_cells(net: nn.Cell, flatten_sequential: bool) -> Iterator[Tuple[str, str, nn.Cell]]:
    """``(new name, name in net, cell)`` of net's direct children, a SequentialCell's children one level down
    when ``flatten_sequential``."""
    for name, cell in net.name_cells().items():
        if flatten_sequential and isinstance(cell, nn.SequentialCell):
            for child, inner in cell.name_cells().items():
                yield f"{name}_{child}", f"{name}.{child}", inner
        else:
            yield name, name, cell


class FeatureExtractWrapper(nn.Cell):
    """MindCV's wrapper: ``net``'s feature maps at the stages ``out_indices`` of its ``feature_info`` (a list of
    dicts with ``chs``, ``reduction`` and ``name``, the cell that ends the stage), as a list.

    A model of this package (one with ``forward_intermediates``) computes them itself. A model with
    ``is_rewritten`` returns every stage from its ``construct`` and the selected ones are kept. Any other model
    is rebuilt as the sequence of its top-level cells (SequentialCell children one level down when it sets
    ``flatten_sequential``), up to the last selected stage: that is only right when ``construct`` runs those
    cells in registration order and uses each once, as MindCV documents. Load weights before wrapping.
    ``out_channels`` lists the selected stages' channels.
    """

    def __init__(self, net: nn.Cell, out_indices: Sequence[int] = (0, 1, 2, 3, 4)) -> None:
        super().__init__(auto_prefix=False)
        stages = list(net.feature_info)
        selected = [index for index in range(len(stages)) if index in out_indices]
        self._out_channels = [_stage_value(stages[index], "chs", "num_chs") for index in selected]
        self.mode = "intermediates" if hasattr(net, "forward_intermediates") else (
            "rewritten" if getattr(net, "is_rewritten", False) else "sequence")
        self.return_index = list(selected)
        if self.mode != "sequence":
            self.net = net
            return
        wanted = {_stage_value(stages[index], "name", "module"): index for index in selected}
        layers, self.return_index = OrderedDict(), []
        for new_name, old_name, cell in _top_level_cells(net, getattr(net, "flatten_sequential", False)):
            if not wanted:
                break
            layers[new_name] = cell
            if wanted.pop(old_name, None) is not None:
                self.return_index.append(len(layers) - 1)
        if wanted:
            raise ConfigError(f"feature_info names {sorted(wanted)}, which are not top-level cells of "
                              f"{type(net).__name__}.")
        self.net = nn.SequentialCell(layers)

    @property
    def out_channels(self) -> List[int]:
        return self._out_channels

    def construct(self, x: Tensor) -> List[Tensor]:
        if self.mode == "intermediates":
            return list(self.net.forward_intermediates(x, tuple(self.return_index)))
        outputs = []
        if self.mode == "rewritten":
            for index, feature in enumerate(self.net(x)):
                if index in self.return_index:
                    outputs.append(feature)
            return outputs
        for index, cell in enumerate(self.net.cell_list):
            x = cell(x)
            if index in self.return_index:
                outputs.append(x)
        return outputs
