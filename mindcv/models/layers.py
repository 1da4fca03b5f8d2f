"""Layers shared by the Xception family: depthwise/separable convolutions and the 3x3/2 max-pool.

On CPU these run mindcv's own kernels (``mindcv.ops``) when ``use_cpu_kernels`` is set; the parameters
(names, shapes) are those of the plain MindSpore layers either way.
"""
from mindspore import Tensor, nn
from mindspore.common import dtype as mstype

from ..ops import depthwise_conv3x3_op, max_pool3x3s2_op

__all__ = ["MIN_INPUT_SIZE", "check_input", "DepthwiseConv2d", "SeparableConv2d", "MaxPool3x3S2"]

MIN_INPUT_SIZE = 71  # smallest input on which every Xception variant's feature maps stay non-empty


def check_input(x: Tensor, in_channels: int, model_name: str) -> None:
    """Raise a clear error for an input that is not (N, in_channels, H, W) with H, W >= 71."""
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{model_name} expects input of shape (N, {in_channels}, H, W), got {x.shape}.")
    if x.shape[2] < MIN_INPUT_SIZE or x.shape[3] < MIN_INPUT_SIZE:
        raise ValueError(f"{model_name} needs inputs of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels, "
                         f"got {x.shape[2]}x{x.shape[3]}; resize the images (image_resize) to 71 or more.")


class DepthwiseConv2d(nn.Conv2d):
    """3x3 depthwise convolution (padding 1, no bias); at stride 1 on CPU it runs our kernel (``mindcv.ops``)."""

    def __init__(self, channels: int, stride: int = 1, use_cpu_kernels: bool = False):
        super().__init__(channels, channels, 3, stride=stride, pad_mode="pad", padding=1, group=channels,
                         has_bias=False)
        self.fast_op = depthwise_conv3x3_op() if use_cpu_kernels and stride == 1 else None

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is not None:  # the kernel is float32: mixed precision casts around it
            return self.fast_op(x.astype(mstype.float32), self.weight.astype(mstype.float32)).astype(x.dtype)
        return self.conv2d(x, self.weight)


class SeparableConv2d(nn.Cell):
    """Depthwise 3x3 convolution followed by a pointwise 1x1 convolution, both without bias."""

    def __init__(self, in_channels: int, out_channels: int, use_cpu_kernels: bool = False):
        super().__init__()
        self.conv1 = DepthwiseConv2d(in_channels, use_cpu_kernels=use_cpu_kernels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, pad_mode="valid", has_bias=False)

    def construct(self, x: Tensor) -> Tensor:
        return self.pointwise(self.conv1(x))


class MaxPool3x3S2(nn.Cell):
    """3x3 max-pool with stride 2: ``"same"`` (TensorFlow) or ``"symmetric"`` (pad 1) padding.

    On CPU it runs our kernel, which keeps the argmax for a scatter-only backward pass.
    """

    def __init__(self, pool_padding: str, use_cpu_kernels: bool = False):
        super().__init__()
        if pool_padding == "same":
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="same")
        else:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="pad", padding=1)
        self.fast_op = max_pool3x3s2_op(pool_padding) if use_cpu_kernels else None

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is not None:
            return self.fast_op(x.astype(mstype.float32))[0].astype(x.dtype)
        return self.pool(x)
