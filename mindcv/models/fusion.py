"""Inference-time folding of BatchNorm into the convolution before it."""
import mindspore as ms
import numpy as np
from mindspore import nn

__all__ = ["fold_conv_bn"]


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution with bias that computes ``bn(conv(x))`` with ``bn``'s moving statistics (eval mode).

    The kernel is scaled per output channel by ``gamma / sqrt(var + eps)`` and the bias becomes
    ``beta - mean * scale`` (plus the scaled bias of ``conv``, if any). Exact up to float rounding.
    """
    scale = bn.gamma.asnumpy() / np.sqrt(bn.moving_variance.asnumpy() + bn.eps)
    weight = conv.weight.asnumpy() * scale.reshape(-1, 1, 1, 1)
    bias = bn.beta.asnumpy() - bn.moving_mean.asnumpy() * scale
    if conv.has_bias:
        bias = bias + conv.bias.asnumpy() * scale
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      pad_mode=conv.pad_mode, padding=conv.padding, dilation=conv.dilation, group=conv.group,
                      has_bias=True)
    fused.weight.set_data(ms.Tensor(weight.astype(np.float32)))
    fused.bias.set_data(ms.Tensor(bias.astype(np.float32)))
    return fused
