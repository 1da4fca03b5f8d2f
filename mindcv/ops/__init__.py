"""Operators of our own: fast CPU kernels for the depthwise convolution and max-pool of Xception."""
from .cpu_kernels import cpu_kernels_enabled, depthwise_conv3x3_op, kernel_library, max_pool3x3s2_op

__all__ = ["cpu_kernels_enabled", "depthwise_conv3x3_op", "kernel_library", "max_pool3x3s2_op"]
