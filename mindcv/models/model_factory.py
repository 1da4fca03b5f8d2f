"""``create_model``: the one entry point from a model name to a built, optionally pretrained, model."""
import logging
from typing import Any, Optional, Union

from mindspore import nn

from .hub import HUB_PREFIX, hub_config
from .registry import model_entrypoint, split_model_name_tag

__all__ = ["create_model"]

_logger = logging.getLogger(__name__)


def create_model(model_name: str, num_classes: Optional[int] = None, pretrained: Union[bool, str] = False,
                 in_channels: int = 3, checkpoint_path: str = "", ema: bool = False, auto_mapping: bool = False,
                 **kwargs: Any) -> nn.Cell:
    """Create a registered model (MindCV's signature and argument order).

    Args:
        model_name: ``name`` or ``name.tag`` (the tag picks a pretrained config, see ``list_pretrained``), or
            ``hf-hub:ORG/NAME`` (timm's form: the architecture named in the repository's ``config.json``).
        num_classes: classifier outputs; None (default): the pretrained weights' classes, else 1000 (MindCV's
            default). With pretrained weights of another size the classifier is fresh (logged); a
            ``checkpoint_path`` of another size is an error naming both shapes.
        pretrained: False, True (the name's tag or the default tag), a tag name, ``hf-hub:ORG/NAME[@REVISION]``
            or the folder ``python -m mindcv.export --format safetensors`` wrote.
        in_channels: input channels; the pretrained first conv is adapted when it differs.
        checkpoint_path: local checkpoint file. With ``pretrained`` it replaces the download (offline use;
            MindCV refuses the combination); alone, it is loaded strictly as the model's weights.
        ema: load the EMA weights (``ema.*`` entries) of the checkpoint.
        auto_mapping: accepted for MindCV compatibility; names are always matched exactly and any mismatch
            is reported, so no mapping is needed or applied.
        **kwargs: ``features_only``, ``out_indices`` and model options such as ``drop_rate``, ``bn_eps``,
            ``pool_padding``, ``pretrained_cfg_overlay``. Options given as None are dropped (MindCV's rule),
            so the model's defaults apply.
    """
    if auto_mapping:
        _logger.info("auto_mapping has no effect: parameter names are matched exactly and mismatches are errors.")
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    if model_name.startswith(HUB_PREFIX):
        config = hub_config(model_name)  # the weights are fetched and checked once, when they are loaded
        pretrained = model_name if pretrained else False
        model_name = config["architecture"]
        num_classes = config["num_classes"] if num_classes is None else num_classes
    entrypoint = model_entrypoint(model_name)
    tag = split_model_name_tag(model_name)[1]
    if tag and pretrained is True:
        pretrained = tag
    return entrypoint(pretrained=pretrained, num_classes=num_classes, in_channels=in_channels,
                      checkpoint_path=checkpoint_path, ema=ema, pretrained_tag=tag, **kwargs)
