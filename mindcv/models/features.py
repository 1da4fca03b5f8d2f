"""Feature-map extraction: wrap a model so it returns intermediate feature maps instead of logits."""
from typing import Dict, List, Optional, Sequence, Tuple

from mindspore import Tensor, nn

from ..utils.errors import ConfigError

__all__ = ["FeatureInfo", "FeatureExtractor"]


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
