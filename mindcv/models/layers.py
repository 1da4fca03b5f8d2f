"""Layers and model parts shared by the Xception family: separable convolutions, the 3x3/2 max-pool, the input
check and the classification head (:class:`ClassifierHead`).

On CPU the depthwise and pointwise convolutions, the pool and BatchNorm run mindcv's own kernels (``mindcv.ops``)
when the model asks for them; the parameters (names, shapes) are those of the plain MindSpore layers either way.
"""
import logging
from typing import Optional, Sequence, Tuple

import mindspore as ms
import mindspore.common.initializer as init
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common import dtype as mstype

from ..ops import (batch_norm_eval_op, batch_norm_train_op, cpu_has_amx, cpu_has_bf16, cpu_kernels_enabled,
                   depthwise_conv3x3_op, max_pool3x3s2_op, pointwise_conv_available, pointwise_conv_op)
from ..ops.cpu_kernels import BF16_FLAGS
from ..utils.errors import ConfigError
from .fusion import fold_conv_bn

__all__ = ["MIN_INPUT_SIZE", "MATMUL_PRECISIONS", "check_input", "resolve_cpu_kernels", "CpuKernelLayer", "BatchNorm2d",
           "DepthwiseConv2d", "PointwiseConv2d", "SeparableConv2d", "MaxPool3x3S2", "KeyedDropout",
           "ClassifierHead", "freeze_batch_norm"]

MIN_INPUT_SIZE = 71  # smallest input on which every Xception variant's feature maps stay non-empty
MATMUL_PRECISIONS = ("highest", "medium")  # PyTorch's names: float32 products; bf16 inputs, float32 accumulation
_logger = logging.getLogger(__name__)


def check_input(x: Tensor, in_channels: int, model_name: str) -> None:
    """Raise a clear error for an input that is not (N, in_channels, H, W) with H, W >= 71."""
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{model_name} expects input of shape (N, {in_channels}, H, W), got {x.shape}.")
    if x.shape[2] < MIN_INPUT_SIZE or x.shape[3] < MIN_INPUT_SIZE:
        raise ValueError(f"{model_name} needs inputs of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels, "
                         f"got {x.shape[2]}x{x.shape[3]}; resize the images (image_resize) to 71 or more.")


def resolve_cpu_kernels(use_cpu_kernels: Optional[bool]) -> bool:
    """``None`` decides by the device (CPU) and ``MINDCV_CPU_KERNELS``; True/False are taken as given."""
    return cpu_kernels_enabled() if use_cpu_kernels is None else bool(use_cpu_kernels)


class CpuKernelLayer:
    """Mixin for a layer that can run one of mindcv's float32 CPU kernels (``mindcv.ops``) in place of MindSpore's
    operator. ``fast_op`` is the kernel the layer runs now, or None for MindSpore's operator.

    :meth:`use_cpu_kernel` switches it (the model's ``set_cpu_kernels`` does so for every layer). Under a float16 or
    bfloat16 mixed-precision flag (``to_float``, as amp O1-O3 set it) the layer runs MindSpore's operator in that
    precision, as MindCV does: the kernels read float32 only, and in PyNative mode MindSpore would hand them
    float16 tensors."""

    def _init_kernel(self, kernel) -> None:
        self._kernel = kernel
        self._kernel_wanted = kernel is not None
        self._low_precision = False
        self._select_op()

    def _select_op(self) -> None:
        self.fast_op = self._kernel if self._kernel_wanted and not self._low_precision else None

    def use_cpu_kernel(self, enabled: bool) -> bool:
        """Run the CPU kernel (when the layer has one and its precision is float32) or MindSpore's operator;
        returns whether the kernel was wanted before."""
        before = self._kernel_wanted
        self._kernel_wanted = bool(enabled) and self._kernel is not None
        self._select_op()
        return before

    def add_flags(self, **flags):
        result = super().add_flags(**flags)
        if "_kernel" in self.__dict__ and any(key in flags for key in ("fp16", "bf16", "fp32")):
            self._low_precision = bool(flags.get("fp16") or flags.get("bf16"))
            self._select_op()
        return result


class BatchNorm2d(CpuKernelLayer, nn.BatchNorm2d):
    """MindSpore's ``nn.BatchNorm2d`` (same parameters, moving averages and results); on CPU our kernels compute it:
    in training the batch statistics, normalisation and gradients, in evaluation ``x * scale + shift`` from the
    moving statistics (``mindcv.ops``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9, use_cpu_kernels: bool = False):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self._init_kernel(batch_norm_train_op() if use_cpu_kernels else None)
        self.eps_tensor = Tensor([eps], mstype.float32)

    def _select_op(self) -> None:
        super()._select_op()
        self.fast_eval_op = None if self.fast_op is None else batch_norm_eval_op()

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is None:
            return super().construct(x)
        if not self.training:
            return self.fast_eval_op(x.astype(mstype.float32), self.gamma, self.beta, self.moving_mean,
                                     self.moving_variance, self.eps_tensor).astype(x.dtype)
        y, mean, var, _ = self.fast_op(x.astype(mstype.float32), self.gamma, self.beta, self.eps_tensor)
        update = self.momentum  # MindSpore keeps 1 - momentum here: the weight of the batch statistics
        y = ops.depend(y, ops.assign(self.moving_mean, self.moving_mean * (1.0 - update) + mean * update))
        y = ops.depend(y, ops.assign(self.moving_variance, self.moving_variance * (1.0 - update) + var * update))
        return y.astype(x.dtype)


def freeze_batch_norm(model: nn.Cell) -> int:
    """Put every BatchNorm layer of ``model`` in evaluation mode (normalise with, and keep, the moving statistics;
    gamma and beta still get gradients); returns how many. A later ``set_train`` of the whole model undoes it
    (:func:`~mindcv.engine.evaluate.eval_mode` puts each layer back as it was)."""
    layers = [cell for _, cell in model.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
    for layer in layers:
        layer.set_train(False)
    return len(layers)


class DepthwiseConv2d(CpuKernelLayer, nn.Conv2d):
    """3x3 depthwise convolution (padding 1, no bias); at stride 1 on CPU it runs our kernel (``mindcv.ops``)."""

    def __init__(self, channels: int, stride: int = 1, use_cpu_kernels: bool = False):
        super().__init__(channels, channels, 3, stride=stride, pad_mode="pad", padding=1, group=channels,
                         has_bias=False)
        self._init_kernel(depthwise_conv3x3_op() if use_cpu_kernels and stride == 1 else None)

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is not None:  # float32 kernel: operator-level mixed precision ("auto") may pass float16
            return self.fast_op(x.astype(mstype.float32), self.weight.astype(mstype.float32)).astype(x.dtype)
        return self.conv2d(x, self.weight)


class PointwiseConv2d(CpuKernelLayer, nn.Conv2d):
    """1x1 convolution, stride 1, no bias; on CPU it runs our kernel (oneDNN matrix products, ``mindcv.ops``)."""

    def __init__(self, in_channels: int, out_channels: int, use_cpu_kernels: bool = False):
        super().__init__(in_channels, out_channels, 1, pad_mode="valid", has_bias=False)
        self._init_kernel(pointwise_conv_op() if use_cpu_kernels and pointwise_conv_available() else None)

    def set_kernel_precision(self, precision: str) -> None:
        """The products of the kernel in ``"fp32"`` or ``"bf16"`` (bf16 inputs, float32 accumulation); no effect
        on MindSpore's operator."""
        if self._kernel is not None:
            self._kernel = pointwise_conv_op(precision)
            self._select_op()

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is not None:  # float32 kernel: operator-level mixed precision ("auto") may pass float16
            return self.fast_op(x.astype(mstype.float32), self.weight.astype(mstype.float32)).astype(x.dtype)
        return self.conv2d(x, self.weight)


class SeparableConv2d(nn.Cell):
    """Depthwise 3x3 convolution followed by a pointwise 1x1 convolution, both without bias."""

    def __init__(self, in_channels: int, out_channels: int, use_cpu_kernels: bool = False):
        super().__init__()
        self.conv1 = DepthwiseConv2d(in_channels, use_cpu_kernels=use_cpu_kernels)
        self.pointwise = PointwiseConv2d(in_channels, out_channels, use_cpu_kernels)

    def construct(self, x: Tensor) -> Tensor:
        return self.pointwise(self.conv1(x))


class MaxPool3x3S2(CpuKernelLayer, nn.Cell):
    """3x3 max-pool with stride 2: ``"same"`` (TensorFlow) or ``"symmetric"`` (pad 1) padding.

    On CPU it runs our kernel, which keeps the argmax for a scatter-only backward pass.
    """

    def __init__(self, pool_padding: str, use_cpu_kernels: bool = False):
        super().__init__()
        if pool_padding == "same":
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="same")
        else:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="pad", padding=1)
        self._init_kernel(max_pool3x3s2_op(pool_padding) if use_cpu_kernels else None)

    def construct(self, x: Tensor) -> Tensor:
        if self.fast_op is not None:
            return self.fast_op(x.astype(mstype.float32))[0].astype(x.dtype)
        return self.pool(x)


_MASK32 = 0xFFFFFFFF


def _mix32(h: Tensor) -> Tensor:
    h = ops.bitwise_and(ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16)) * 0x45D9F3B, _MASK32)
    h = ops.bitwise_and(ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16)) * 0x45D9F3B, _MASK32)
    return ops.bitwise_xor(h, ops.bitwise_right_shift(h, 16))


class KeyedDropout(nn.Cell):
    """Inverted dropout whose keep mask is a hash of (``seed``, ``step``, element position): the same seed and
    step give the same mask in any process, mode or resumed run. ``step`` is a shared counter that the training
    step advances after every forward pass (reading it has no side effect, so a recomputed forward pass sees
    the same mask). The counter is read, not owned: it is not one of this cell's parameters, so a model holding
    this dropout keeps exactly its weights (checkpoints, EMA, digests and export do not see the counter; the
    training step that advances it saves it)."""

    def __init__(self, p: float, seed: int, step: Parameter):
        super().__init__()
        self.p = p
        self.seed = int(seed) & 0x7FFFFFFF
        object.__setattr__(self, "step", step)  # not registered as a parameter (see above)

    def construct(self, x: Tensor) -> Tensor:
        if not self.training or self.p <= 0:
            return x
        position = ops.arange(0, x.size, dtype=ms.int64).reshape(x.shape)
        key = ops.bitwise_and(position + self.step * 1000003 + self.seed * 7919, _MASK32)
        uniform = _mix32(_mix32(key)).astype(ms.float32) * (1.0 / 4294967296.0)
        keep = (uniform >= self.p).astype(x.dtype)
        return x * keep / (1.0 - self.p)


def _new_classifier(num_features: int, num_classes: int) -> nn.Cell:
    if num_classes <= 0:
        return nn.Identity()
    return nn.Dense(num_features, num_classes, weight_init=init.Normal(0.01), bias_init=init.Zero())


class ClassifierHead:
    """What every model of the family shares after its last feature map, as a mixin of ``nn.Cell`` models.

    The model owns ``self.dropout`` and ``self.classifier`` (parameter names ``classifier.weight``/``.bias``,
    as in the published checkpoints); :meth:`init_head` creates them, and training puts its reproducible dropout
    into the slot (:meth:`use_keyed_dropout`): training and evaluation run the same head. It also provides
    feature extraction over ``feature_info`` (see :meth:`forward_intermediates`) and BatchNorm folding over
    ``conv_bn_pairs()``, which lists ``(conv parent, conv attribute or index, bn parent, bn attribute or index)``
    for every conv + BN. Models implement ``forward_stem``, ``blocks``, ``forward_exit`` and ``stage_activation``.
    """

    min_input_size = MIN_INPUT_SIZE
    float32_matmul_precision = "highest"  # see set_float32_matmul_precision
    stem_pattern = r"^stem\."  # the parameters before the first block

    def group_matcher(self, coarse: bool = False) -> dict:
        """timm's layer grouping: ``stem`` matches the parameters before the blocks, ``blocks`` captures a block's
        index (parameters after the last block, then the classifier, come deeper). Layer-wise lr decay and
        fine-tuning read the model's structure from here, not from parameter names."""
        return dict(stem=self.stem_pattern, blocks=r"^blocks\.(\d+)\.")

    def init_head(self, num_features: int, num_classes: int, drop_rate: float) -> None:
        if not 0.0 <= drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.num_features = num_features
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = _new_classifier(num_features, num_classes)

    def use_keyed_dropout(self, seed: int, step: Parameter) -> None:
        """Put :class:`KeyedDropout` (rate ``drop_rate``, masks keyed by ``seed`` and the counter ``step``, which
        the training step advances) into the head's dropout slot: what ``train.py`` trains with, so that a run
        (also a resumed one) draws the same masks. The model's parameters do not change."""
        self.dropout = KeyedDropout(self.drop_rate, seed, step)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout and classifier (only the pooling with ``pre_logits``)."""
        x = ops.mean(x, axis=(2, 3))
        if pre_logits:
            return x
        return self.classifier(self.dropout(x))

    def set_cpu_kernels(self, enabled: bool) -> bool:
        """Run mindcv's CPU kernels (in the layers built with one) or MindSpore's own operators everywhere, e.g. for
        an exported graph, which cannot hold the kernels. Returns the previous setting. Call it before the
        model's first graph-mode run: MindSpore keeps running a compiled graph."""
        previous = self.use_cpu_kernels
        for _, cell in self.cells_and_names():
            if isinstance(cell, CpuKernelLayer):
                cell.use_cpu_kernel(enabled)
        self.use_cpu_kernels = bool(enabled)
        return previous

    def set_float32_matmul_precision(self, precision: str) -> str:
        """PyTorch's ``torch.set_float32_matmul_precision`` for this model's CPU kernels: ``"highest"`` computes
        the pointwise convolutions (two thirds of the arithmetic) in float32, ``"medium"`` with bf16 inputs and
        float32 accumulation (oneDNN, AVX512-BF16); tensors, parameters and optimizer stay float32. On a CPU
        without bf16 instructions, on one with AMX (where MindSpore's oneDNN makes bf16 slower than float32), or
        without the CPU kernels, it stays ``"highest"`` and says why. Returns the
        previous setting; call it before the model's first graph-mode run."""
        if precision not in MATMUL_PRECISIONS:
            raise ConfigError(f"float32_matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)}, got "
                              f"{precision!r}.")
        previous = self.float32_matmul_precision
        pointwise = [cell for _, cell in self.cells_and_names() if isinstance(cell, PointwiseConv2d)]
        if precision == "medium" and not any(cell._kernel is not None for cell in pointwise):
            _logger.warning("float32_matmul_precision 'medium' applies to mindcv's CPU kernels, which this model "
                            "does not use (not on CPU, MINDCV_CPU_KERNELS=0 or no compiler); it runs float32.")
            precision = "highest"
        elif precision == "medium" and not cpu_has_bf16():
            _logger.warning("float32_matmul_precision 'medium' needs a CPU with bf16 instructions (%s); this one "
                            "has none, so the products stay float32.", " or ".join(BF16_FLAGS))
            precision = "highest"
        elif precision == "medium" and cpu_has_amx():
            _logger.warning("float32_matmul_precision 'medium' stays float32 on this CPU (amx_bf16): the bf16 "
                            "products of MindSpore 2.7's oneDNN 2.2 have no AMX path and measured 0.72-0.78x of "
                            "float32 training on an AMX Xeon (they gain 1.2-1.6x on AVX512-BF16 CPUs without AMX).")
            precision = "highest"
        for cell in pointwise:
            cell.set_kernel_precision("bf16" if precision == "medium" else "fp32")
        if precision == "medium":
            _logger.info("float32_matmul_precision medium: the pointwise convolutions take bf16 inputs and "
                         "accumulate in float32.")
        self.float32_matmul_precision = precision
        return previous

    def get_classifier(self) -> nn.Cell:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` (0 removes it)."""
        self.num_classes = num_classes
        self.classifier = _new_classifier(self.num_features, num_classes)

    def set_feature_info(self, feature_info: Sequence[dict]) -> None:
        """Record the feature stages: ``num_chs``, ``reduction`` and ``module``, the cell whose output ends it."""
        self.feature_info = [dict(info) for info in feature_info]
        self._block_stage_ends = {int(info["module"].split(".")[1]): stage
                                  for stage, info in enumerate(self.feature_info)
                                  if info["module"].startswith("blocks.")}
        last = len(self.feature_info) - 1
        self._exit_stage = -1 if self.feature_info[last]["module"].startswith("blocks.") else last

    def forward_intermediates(self, x: Tensor, indices: Sequence[int]) -> Tuple[Tensor, ...]:
        """The feature maps of the stages in ``indices`` (see ``feature_info``), in stage order.

        A stage whose ``module`` is ``blocks.K`` ends after block K (with ``stage_activation`` applied to the
        block output); the first stage ends after the stem and the last one, when it is not a block, after
        ``forward_exit``.
        """
        ends = self._block_stage_ends
        outputs = ()
        x = self.forward_stem(x)
        if 0 in indices:
            outputs += (x,)
        for index, block in enumerate(self.blocks):
            x = block(x)
            stage = ends.get(index)
            if stage is not None and stage in indices:
                outputs += (self.stage_activation(x),)
        if self._exit_stage in indices:
            outputs += (self.forward_exit(x),)
        return outputs

    def fold_batchnorm(self):
        """Fold every BatchNorm into the convolution before it, for inference and export (in place).

        Logits are unchanged up to float rounding; the folded model has other parameter names (convs gain
        biases, BatchNorms disappear), so load checkpoints before folding and do not train it.
        """
        if self.compile_cache:
            raise RuntimeError("fold_batchnorm() must run before the model's first graph-mode call (MindSpore "
                               "would keep running the compiled graph); build the model again and fold it first.")
        self.set_train(False)
        for conv_parent, conv_key, bn_parent, bn_key in self.conv_bn_pairs():
            folded = fold_conv_bn(_child(conv_parent, conv_key), _child(bn_parent, bn_key))
            _set_child(conv_parent, conv_key, folded)
            _set_child(bn_parent, bn_key, nn.Identity())
        for name, param in self.parameters_and_names():
            param.name = name
        return self


def _child(parent: nn.Cell, key):
    return parent[key] if isinstance(key, int) else getattr(parent, key)


def _set_child(parent: nn.Cell, key, cell: nn.Cell) -> None:
    if isinstance(key, int):
        parent[key] = cell
    else:
        setattr(parent, key, cell)
