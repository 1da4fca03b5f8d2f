"""``create_model``: the one entry point from a model name to a built, optionally pretrained, model."""
from typing import Any, Optional, Sequence, Union

from mindspore import nn

from .registry import model_entrypoint, split_model_name_tag

__all__ = ["create_model"]


def create_model(model_name: str, pretrained: Union[bool, str] = False, num_classes: int = 1000,
                 in_channels: int = 3, checkpoint_path: str = "", ema: bool = False, features_only: bool = False,
                 out_indices: Optional[Sequence[int]] = None, **kwargs: Any) -> nn.Cell:
    """Create a registered model.

    Args:
        model_name: ``name`` or ``name.tag`` (the tag picks a pretrained config, see ``list_pretrained``).
        pretrained: False, True (the name's tag or the default tag) or a tag name.
        num_classes: classifier outputs; differing from the weights keeps a fresh classifier.
        in_channels: input channels; the pretrained first conv is adapted when it differs.
        checkpoint_path: local checkpoint file; with ``pretrained`` it replaces the download.
        ema: load the EMA weights (``ema.*`` entries) of the checkpoint.
        features_only: return feature maps at strides 2, 4, 8, 16, 32 instead of logits.
        out_indices: which feature maps (indices into ``model.feature_info``).
        **kwargs: model options, e.g. ``drop_rate``, ``bn_eps``, ``pool_padding``,
            ``pretrained_cfg_overlay`` (dict replacing fields of the pretrained config, such as ``url``).
    """
    entrypoint = model_entrypoint(model_name)
    tag = split_model_name_tag(model_name)[1]
    if tag and pretrained is True:
        pretrained = tag
    return entrypoint(pretrained=pretrained, num_classes=num_classes, in_channels=in_channels,
                      checkpoint_path=checkpoint_path, ema=ema, features_only=features_only,
                      out_indices=out_indices, pretrained_tag=tag, **kwargs)
