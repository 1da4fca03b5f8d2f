"""Xception (Chollet, CVPR 2017): depthwise-separable convolutions with residual connections.

Read top to bottom: the pretrained-config table, the separable block, the network in the order of the paper's
figure (entry flow, eight middle-flow blocks, exit flow, then the classifier head it owns, dropout included, which
training and inference share), the registered constructor, and ``preprocess_input`` / ``decode_predictions`` beside
the model as in Keras. On CPU the layers run mindcv's kernels (``set_cpu_kernels``).

Parameter names and shapes match the published MindCV ImageNet checkpoint, so it loads unchanged.
Two options select the semantics of other published weights: ``bn_eps`` (Keras: 1e-3) and
``pool_padding`` (``"same"`` is TensorFlow's padding, used by Keras and MindCV; ``"symmetric"`` pads
one pixel on every side, as the PyTorch ports do).
"""
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import mindspore.common.initializer as init
import numpy as np
from mindspore import Tensor, nn

from ..convert import convert_keras_file, convert_timm_file
from ..data.constants import INCEPTION_MEAN, INCEPTION_STD, imagenet_classes
from ..utils.errors import ConfigError, DataError
from ..utils.scores import softmax
from .helpers import build_registered_model
from .layers import BatchNorm2d, ClassifierHead, MaxPool3x3S2, SeparableConv2d, check_input, resolve_cpu_kernels
from .pretrained import PretrainedCfg
from .registry import get_pretrained_cfg, register_model

__all__ = ["Xception", "xception", "preprocess_input", "decode_predictions"]

POOL_PADDINGS = ("same", "symmetric")

default_cfgs = {
    "xception.mindcv_in1k": PretrainedCfg(
        url="https://download-mindspore.osinfra.cn/toolkits/mindcv/xception/xception-174_5004_v2.ckpt",
        filename="xception-174_5004_v2.ckpt",
        num_classes=1000,
        input_size=(3, 299, 299),
        crop_pct=0.875,
        interpolation="bilinear",
        source="MindCV 0.5 ImageNet-1K recipe (configs/xception/xception_ascend.yaml), 8x Ascend 910*",
        top1=76.31,
        top5=92.80,
    ),
    # The file MindCV's own code still downloads for create_model("xception", pretrained=True) (mindcv/models/
    # xception.py since 0.1), whose row (79.01 / 94.25) MindCV's model card listed until it moved to the file above.
    "xception.mindcv_legacy_in1k": PretrainedCfg(
        url="https://download.mindspore.cn/toolkits/mindcv/xception/xception-2c1e711df.ckpt",
        filename="xception-2c1e711df.ckpt",
        file_hash="2c1e711df",  # the sha256 prefix in the file name (MindCV's naming rule, configs/README.md)
        num_classes=1000,
        input_size=(3, 299, 299),
        crop_pct=0.875,
        interpolation="bilinear",
        source="MindCV <= 0.4 ImageNet-1K weights (the file MindCV's create_model downloads), 8x Ascend 910",
        top1=79.01,
        top5=94.25,
    ),
    # Chollet's own ImageNet weights, converted on load from Keras's HDF5 file (see mindcv.convert).
    "xception.keras_in1k": PretrainedCfg(
        url="https://storage.googleapis.com/tensorflow/keras-applications/xception/"
            "xception_weights_tf_dim_ordering_tf_kernels.h5",
        file_hash="0a58e3b7378bc2990ea3b43d5981f1f6",  # md5, as Keras's applications publish it
        converter=convert_keras_file,
        input_size=(3, 299, 299),
        crop_pct=0.875,
        interpolation="bicubic",
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        model_args=dict(bn_eps=1e-3, pool_padding="same"),
        source="Keras applications (Chollet), ImageNet-1K",
        top1=79.0,
        top5=94.5,
    ),
    # The same Keras weights as ported to PyTorch by timm (legacy_xception.tf_in1k): symmetric max-pool
    # padding and BN epsilon 1e-5, which is how timm runs and evaluates them.
    "xception.timm_legacy_in1k": PretrainedCfg(
        url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth",
        file_hash="43020ad28",  # the sha256 prefix in the published file name (torch hub's convention)
        converter=convert_timm_file,
        input_size=(3, 299, 299),
        crop_pct=0.8975,
        interpolation="bicubic",
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        model_args=dict(bn_eps=1e-5, pool_padding="symmetric"),
        source="timm legacy_xception.tf_in1k (PyTorch port of the Keras weights), ImageNet-1K",
        top1=79.04,
        top5=94.39,
    ),
}


class Block(nn.Cell):
    """Residual block of separable convolutions.

    ``rep`` holds ``[ReLU, SeparableConv2d, BatchNorm2d] * reps`` (the leading ReLU dropped when
    ``start_with_relu`` is False) and, for ``stride=2``, a final 3x3 max-pool. ``grow_first`` widens the
    channels in the first separable convolution, otherwise in the last. A 1x1 convolution with BN
    replaces the identity shortcut when the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, reps: int, stride: int = 1,
                 start_with_relu: bool = True, grow_first: bool = True, bn_eps: float = 1e-5,
                 bn_momentum: float = 0.9, pool_padding: str = "same", use_cpu_kernels: bool = False):
        super().__init__()
        if out_channels != in_channels or stride != 1:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, pad_mode="valid", has_bias=False)
            self.skipbn = BatchNorm2d(out_channels, bn_eps, bn_momentum, use_cpu_kernels)
        else:
            self.skip = None
            self.skipbn = None
        widths = [in_channels] + [out_channels if grow_first else in_channels] * (reps - 1) + [out_channels]
        layers: List[nn.Cell] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ReLU(), SeparableConv2d(width_in, width_out, use_cpu_kernels),
                       BatchNorm2d(width_out, bn_eps, bn_momentum, use_cpu_kernels)]
        if not start_with_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(MaxPool3x3S2(pool_padding, use_cpu_kernels))
        self.rep = nn.SequentialCell(layers)

    def construct(self, x: Tensor) -> Tensor:
        shortcut = x
        if self.skip is not None:
            shortcut = self.skipbn(self.skip(x))
        return self.rep(x) + shortcut


class Xception(ClassifierHead, nn.Cell):
    """Xception network.

    Args:
        num_classes: classifier outputs; 0 builds no classifier (``construct`` returns pooled features).
        in_channels: input image channels.
        drop_rate: dropout probability before the classifier (0.5 as in the paper and MindCV).
        bn_eps: BatchNorm epsilon (1e-5 for MindCV/timm weights, 1e-3 for Keras weights).
        bn_momentum: MindSpore BatchNorm momentum (weight of the old moving statistics).
        pool_padding: ``"same"`` (TensorFlow) or ``"symmetric"`` (pad 1, PyTorch ports).
        use_cpu_kernels: run depthwise convolutions and max-pools with our CPU kernels (``mindcv.ops``);
            ``None`` decides by the device (CPU) and ``MINDCV_CPU_KERNELS``. Weights are unaffected.
    """

    stem_pattern = r"^(conv1|bn1|conv2|bn2)\."

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.5,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.9, pool_padding: str = "same",
                 use_cpu_kernels: Optional[bool] = None):
        super().__init__()
        if pool_padding not in POOL_PADDINGS:
            raise ConfigError(f"pool_padding must be one of {POOL_PADDINGS}, got {pool_padding!r}")
        self.in_channels = in_channels
        self.use_cpu_kernels = resolve_cpu_kernels(use_cpu_kernels)
        block_args = dict(bn_eps=bn_eps, bn_momentum=bn_momentum, pool_padding=pool_padding,
                          use_cpu_kernels=self.use_cpu_kernels)

        # Stem: two plain 3x3 convolutions without padding.
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, pad_mode="valid", has_bias=False)
        self.bn1 = BatchNorm2d(32, bn_eps, bn_momentum, self.use_cpu_kernels)
        self.conv2 = nn.Conv2d(32, 64, 3, pad_mode="valid", has_bias=False)
        self.bn2 = BatchNorm2d(64, bn_eps, bn_momentum, self.use_cpu_kernels)
        self.relu = nn.ReLU()

        self.blocks = nn.SequentialCell(
            # Entry flow: three downsampling blocks.
            Block(64, 128, reps=2, stride=2, start_with_relu=False, **block_args),
            Block(128, 256, reps=2, stride=2, **block_args),
            Block(256, 728, reps=2, stride=2, **block_args),
            # Middle flow: eight identity-shortcut blocks of three separable convolutions.
            *[Block(728, 728, reps=3, stride=1, **block_args) for _ in range(8)],
            # Exit flow: widen to 1024 in the last separable convolution, then downsample.
            Block(728, 1024, reps=2, stride=2, grow_first=False, **block_args),
        )
        self.conv3 = SeparableConv2d(1024, 1536, self.use_cpu_kernels)
        self.bn3 = BatchNorm2d(1536, bn_eps, bn_momentum, self.use_cpu_kernels)
        self.conv4 = SeparableConv2d(1536, 2048, self.use_cpu_kernels)
        self.bn4 = BatchNorm2d(2048, bn_eps, bn_momentum, self.use_cpu_kernels)

        # Head: global average pool, dropout, linear classifier.
        self.init_head(2048, num_classes, drop_rate)
        self.set_feature_info([
            dict(num_chs=64, reduction=2, module="bn2"),
            dict(num_chs=128, reduction=4, module="blocks.0"),
            dict(num_chs=256, reduction=8, module="blocks.1"),
            dict(num_chs=728, reduction=16, module="blocks.10"),
            dict(num_chs=2048, reduction=32, module="bn4"),
        ])
        self._init_weights()

    def _init_weights(self) -> None:
        for _, cell in self.cells_and_names():
            if isinstance(cell, nn.Conv2d):
                cell.weight.set_data(init.initializer(init.XavierUniform(), cell.weight.shape, cell.weight.dtype))

    def forward_stem(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, "Xception")
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))

    def stage_activation(self, x: Tensor) -> Tensor:
        """Block outputs are pre-activation sums; a feature map is taken after the ReLU the next block applies."""
        return self.relu(x)

    def forward_exit(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn3(self.conv3(x)))
        return self.relu(self.bn4(self.conv4(x)))

    def forward_features(self, x: Tensor) -> Tensor:
        """Feature map of the last stage: (N, 2048, H/32, W/32) after the final ReLU."""
        return self.forward_exit(self.blocks(self.forward_stem(x)))

    def conv_bn_pairs(self):
        pairs = [(self, "conv1", self, "bn1"), (self, "conv2", self, "bn2")]
        for block in self.blocks:
            if block.skip is not None:
                pairs.append((block, "skip", block, "skipbn"))
            pairs += [(cell, "pointwise", block.rep, index + 1) for index, cell in enumerate(block.rep)
                      if isinstance(cell, SeparableConv2d)]
        return pairs + [(self.conv3, "pointwise", self, "bn3"), (self.conv4, "pointwise", self, "bn4")]

    def construct(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def xception(pretrained: bool = False, **kwargs) -> Xception:
    """Xception from "Xception: Deep Learning with Depthwise Separable Convolutions" (Chollet, 2017)."""
    return build_registered_model(Xception, "xception", pretrained, **kwargs)


def preprocess_input(images: Sequence, pretrained_cfg: Optional[PretrainedCfg] = None) -> Tensor:
    """``images`` (file paths, PIL images or HWC uint8 RGB arrays) as the batch the weights of ``pretrained_cfg``
    expect (default: the default tag's): decoded, the shorter side resized to ``size / crop_pct``,
    centre-cropped to ``size``, normalised with the config's mean and std; NCHW float32. Keras's
    ``preprocess_input`` for the same weights, with the resizing included."""
    ops = (pretrained_cfg or get_pretrained_cfg("xception")).preprocessing.transforms()
    batch = []
    for image in images:
        if isinstance(image, (str, Path)):
            path = Path(image).expanduser()
            if not path.is_file():
                raise DataError(f"Image file not found: {path}.")
            steps, image = ops, np.fromfile(path, np.uint8)
        else:  # already decoded: a PIL image or an array
            steps, image = ops[1:], np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        for op in steps:
            image = op(image)
        batch.append(image)
    return Tensor(np.stack(batch))


def decode_predictions(preds: Union[Tensor, np.ndarray], top: int = 5) -> List[List[Tuple[str, str, float]]]:
    """For each row of 1000-class ``preds`` (logits, or probabilities when every row sums to 1), the ``top``
    classes as ``(WordNet id, class name, probability)``, most likely first (Keras's ``decode_predictions``)."""
    values = np.asarray(preds.asnumpy() if isinstance(preds, Tensor) else preds, np.float64)
    if values.ndim != 2 or values.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects (batch, 1000) ImageNet predictions, got shape {values.shape}.")
    if not (np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-3)):
        values = softmax(values)
    classes = imagenet_classes()
    return [[(*classes[index], float(row[index])) for index in np.argsort(-row)[:top]] for row in values]
