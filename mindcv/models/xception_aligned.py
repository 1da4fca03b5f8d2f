"""Aligned Xception (DeepLab v3+; Chen et al., 2018) as in timm: Xception-41, -65 and -71.

Differences from the original Xception: every block has three separable convolutions, downsampling is a
stride-2 separable convolution instead of a max-pool, each separable convolution has BatchNorm after both its
depthwise and its pointwise part, the middle flow is longer, and the exit flow's last block has ReLU between
depthwise and pointwise. Parameter names follow timm's module tree (``stem.0.conv``,
``blocks.N.stack.convK.conv_dw``, ...), so timm's published weights convert by renaming BatchNorm fields
and ``head.fc`` -> ``classifier``.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mindspore.common.initializer as init
from mindspore import Tensor, nn

from ..convert import convert_timm_aligned_file
from ..data.constants import INCEPTION_MEAN, INCEPTION_STD
from .helpers import build_registered_model
from .layers import BatchNorm2d, ClassifierHead, DepthwiseConv2d, PointwiseConv2d, check_input, resolve_cpu_kernels
from .pretrained import PretrainedCfg
from .registry import register_model

__all__ = ["XceptionAligned", "xception41", "xception65", "xception71"]

_TIMM_URL = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"


def _timm_cfg(name: str, top1: float, top5: float, crop_pct: float = 0.903) -> PretrainedCfg:
    return PretrainedCfg(url=_TIMM_URL.format(name), filename=f"{name}.safetensors",
                         converter=convert_timm_aligned_file, crop_pct=crop_pct, interpolation="bicubic",
                         mean=INCEPTION_MEAN, std=INCEPTION_STD,
                         source=f"timm {name}, ImageNet-1K", top1=top1, top5=top5)


default_cfgs = {
    "xception41.tf_in1k": _timm_cfg("xception41.tf_in1k", 78.50, 94.28),
    "xception65.ra3_in1k": _timm_cfg("xception65.ra3_in1k", 83.18, 96.59, crop_pct=0.94),
    "xception65.tf_in1k": _timm_cfg("xception65.tf_in1k", 79.55, 94.66),
    "xception71.tf_in1k": _timm_cfg("xception71.tf_in1k", 79.87, 94.93),
}


class ConvBnAct(nn.Cell):
    """Convolution without bias, BatchNorm, optional ReLU ("same"-sized padding for odd kernels)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, act: bool = True,
                 bn_eps: float = 1e-3, bn_momentum: float = 0.9, use_cpu_kernels: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, pad_mode="pad",
                              padding=kernel_size // 2, has_bias=False)
        self.bn = BatchNorm2d(out_channels, bn_eps, bn_momentum, use_cpu_kernels)
        self.act = nn.ReLU() if act else None

    def construct(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        if self.act is not None:
            x = self.act(x)
        return x


class AlignedSeparableConv2d(nn.Cell):
    """Depthwise 3x3 (stride ``stride``) + BN [+ ReLU], pointwise 1x1 + BN [+ ReLU]; ReLUs when ``act``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, act: bool = False,
                 bn_eps: float = 1e-3, bn_momentum: float = 0.9, use_cpu_kernels: bool = False):
        super().__init__()
        self.conv_dw = DepthwiseConv2d(in_channels, stride=stride, use_cpu_kernels=use_cpu_kernels)
        self.bn_dw = BatchNorm2d(in_channels, bn_eps, bn_momentum, use_cpu_kernels)
        self.conv_pw = PointwiseConv2d(in_channels, out_channels, use_cpu_kernels)
        self.bn_pw = BatchNorm2d(out_channels, bn_eps, bn_momentum, use_cpu_kernels)
        self.act = nn.ReLU() if act else None

    def construct(self, x: Tensor) -> Tensor:
        x = self.bn_dw(self.conv_dw(x))
        if self.act is not None:
            x = self.act(x)
        x = self.bn_pw(self.conv_pw(x))
        if self.act is not None:
            x = self.act(x)
        return x


class XceptionModule(nn.Cell):
    """Three separable convolutions (the third carries the stride) plus a shortcut.

    ``start_with_relu`` puts a ReLU before each separable convolution; otherwise the ReLUs sit inside them
    (the exit block). The shortcut is a strided 1x1 conv + BN when the shape changes, identity otherwise,
    and absent with ``no_skip``.
    """

    def __init__(self, in_channels: int, out_channels: Tuple[int, int, int], stride: int = 1,
                 start_with_relu: bool = True, no_skip: bool = False, bn_eps: float = 1e-3,
                 bn_momentum: float = 0.9, use_cpu_kernels: bool = False):
        super().__init__()
        self.no_skip = no_skip
        self.out_channels = out_channels[-1]
        if not no_skip and (out_channels[-1] != in_channels or stride != 1):
            self.shortcut = ConvBnAct(in_channels, out_channels[-1], 1, stride=stride, act=False, bn_eps=bn_eps,
                                      bn_momentum=bn_momentum, use_cpu_kernels=use_cpu_kernels)
        else:
            self.shortcut = None
        layers = OrderedDict()
        for index, width in enumerate(out_channels):
            if start_with_relu:
                layers[f"act{index + 1}"] = nn.ReLU()
            layers[f"conv{index + 1}"] = AlignedSeparableConv2d(
                in_channels, width, stride=stride if index == 2 else 1, act=not start_with_relu, bn_eps=bn_eps,
                bn_momentum=bn_momentum, use_cpu_kernels=use_cpu_kernels)
            in_channels = width
        self.stack = nn.SequentialCell(layers)

    def construct(self, x: Tensor) -> Tensor:
        out = self.stack(x)
        if self.no_skip:
            return out
        if self.shortcut is not None:
            x = self.shortcut(x)
        return out + x


BlockCfg = Dict[str, Union[int, bool, Tuple[int, int, int]]]


class XceptionAligned(ClassifierHead, nn.Cell):
    """Aligned Xception built from a list of block configs (``in_chs``, ``out_chs``, ``stride``, ...)."""

    def __init__(self, block_cfg: Sequence[BlockCfg], num_classes: int = 1000, in_channels: int = 3,
                 drop_rate: float = 0.0, bn_eps: float = 1e-3, bn_momentum: float = 0.9,
                 use_cpu_kernels: Optional[bool] = None):
        super().__init__()
        self.use_cpu_kernels = resolve_cpu_kernels(use_cpu_kernels)
        self.in_channels = in_channels
        kernels = dict(bn_eps=bn_eps, bn_momentum=bn_momentum, use_cpu_kernels=self.use_cpu_kernels)
        # Entry: two 3x3 convolutions, the first with stride 2.
        self.stem = nn.SequentialCell([ConvBnAct(in_channels, 32, 3, stride=2, **kernels),
                                       ConvBnAct(32, 64, 3, **kernels)])
        blocks: List[nn.Cell] = []
        feature_info = [dict(num_chs=64, reduction=2, module="stem")]
        reduction = 2
        for index, cfg in enumerate(block_cfg):
            widths = cfg["out_chs"] if isinstance(cfg["out_chs"], tuple) else (cfg["out_chs"],) * 3
            blocks.append(XceptionModule(cfg["in_chs"], widths, stride=cfg.get("stride", 1),
                                         start_with_relu=cfg.get("start_with_relu", True),
                                         no_skip=cfg.get("no_skip", False), **kernels))
            reduction *= cfg.get("stride", 1)
            following = block_cfg[index + 1].get("stride", 1) if index + 1 < len(block_cfg) else 2
            if following != 1:  # the last block at this resolution: a feature stage
                feature_info.append(dict(num_chs=widths[-1], reduction=reduction, module=f"blocks.{index}"))
        # Entry, middle and exit flows, as listed in ``block_cfg``.
        self.blocks = nn.SequentialCell(blocks)
        self.init_head(blocks[-1].out_channels, num_classes, drop_rate)
        self.set_feature_info(feature_info)
        self._init_weights()

    def _init_weights(self) -> None:
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Conv2d):
                cell.weight.set_data(init.initializer(init.HeNormal(mode="fan_out", nonlinearity="relu"),
                                                      cell.weight.shape, cell.weight.dtype))

    def forward_stem(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, "XceptionAligned")
        return self.stem(x)

    def stage_activation(self, x: Tensor) -> Tensor:
        """Stage outputs are the blocks' outputs as they are (timm's feature maps)."""
        return x

    def forward_exit(self, x: Tensor) -> Tensor:
        """The exit flow is part of ``blocks``."""
        return x

    def forward_features(self, x: Tensor) -> Tensor:
        return self.blocks(self.forward_stem(x))

    def conv_bn_pairs(self):
        pairs = []
        for _, cell in self.cells_and_names():
            if isinstance(cell, ConvBnAct):
                pairs.append((cell, "conv", cell, "bn"))
            elif isinstance(cell, AlignedSeparableConv2d):
                pairs += [(cell, "conv_dw", cell, "bn_dw"), (cell, "conv_pw", cell, "bn_pw")]
        return pairs

    def construct(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _exit_flow() -> List[BlockCfg]:
    return [dict(in_chs=728, out_chs=(728, 1024, 1024), stride=2),
            dict(in_chs=1024, out_chs=(1536, 1536, 2048), stride=1, no_skip=True, start_with_relu=False)]


def _build(variant: str, entry: List[BlockCfg], middle_blocks: int, pretrained: Union[bool, str],
           **kwargs) -> XceptionAligned:
    block_cfg = entry + [dict(in_chs=728, out_chs=728, stride=1)] * middle_blocks + _exit_flow()
    return build_registered_model(XceptionAligned, variant, pretrained, block_cfg=block_cfg, **kwargs)


_ENTRY = [dict(in_chs=64, out_chs=128, stride=2), dict(in_chs=128, out_chs=256, stride=2),
          dict(in_chs=256, out_chs=728, stride=2)]


@register_model
def xception41(pretrained: Union[bool, str] = False, **kwargs) -> XceptionAligned:
    """Aligned Xception-41: 8 middle-flow blocks."""
    return _build("xception41", _ENTRY, 8, pretrained, **kwargs)


@register_model
def xception65(pretrained: Union[bool, str] = False, **kwargs) -> XceptionAligned:
    """Aligned Xception-65: 16 middle-flow blocks."""
    return _build("xception65", _ENTRY, 16, pretrained, **kwargs)


@register_model
def xception71(pretrained: Union[bool, str] = False, **kwargs) -> XceptionAligned:
    """Aligned Xception-71: a five-block entry flow (extra stride-1 blocks) and 16 middle-flow blocks."""
    entry = [dict(in_chs=64, out_chs=128, stride=2), dict(in_chs=128, out_chs=256, stride=1),
             dict(in_chs=256, out_chs=256, stride=2), dict(in_chs=256, out_chs=728, stride=1),
             dict(in_chs=728, out_chs=728, stride=2)]
    return _build("xception71", entry, 16, pretrained, **kwargs)
