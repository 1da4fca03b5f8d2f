"""Operators of our own: fast CPU kernels for the depthwise and pointwise convolutions, max-pool and
batch normalisation of Xception."""
from .cpu_kernels import (batch_norm_eval_op, batch_norm_train_op, cpu_has_amx, cpu_has_bf16, cpu_kernels_enabled,
                          depthwise_conv3x3_op, kernel_library, max_pool3x3s2_op, pointwise_conv_available,
                          pointwise_conv_op)

__all__ = ["batch_norm_eval_op", "batch_norm_train_op", "cpu_has_amx", "cpu_has_bf16", "cpu_kernels_enabled",
           "depthwise_conv3x3_op", "kernel_library", "max_pool3x3s2_op", "pointwise_conv_available",
           "pointwise_conv_op"]
