"""BatchNorm folding for inference and export."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.models.fusion import fold_conv_bn
from tests.helpers import calibrated_xception, images, perturb_parameters


def test_fold_conv_bn_equals_conv_then_bn():
    conv = nn.Conv2d(4, 6, 3, stride=2, pad_mode="pad", padding=1, has_bias=False)
    bn = nn.BatchNorm2d(6, eps=1e-3)
    perturb_parameters(nn.SequentialCell([conv, bn]), seed=3)
    bn.set_train(False)
    x = images(batch=2, size=9, channels=4)
    expected = bn(conv(x)).asnumpy()
    fused = fold_conv_bn(conv, bn)
    assert fused.has_bias and fused.stride == conv.stride and fused.padding == conv.padding
    np.testing.assert_allclose(fused(x).asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_folded_xception_keeps_its_logits():
    model = calibrated_xception(num_classes=5)
    x = images(batch=2, size=96)
    reference = model(x).asnumpy()
    model.fold_batchnorm()
    assert not [c for _, c in model.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    names = [p.name for p in model.get_parameters()]
    assert "blocks.0.rep.0.pointwise.bias" in names and "conv1.bias" in names and "bn1.gamma" not in names
    assert len(names) == len(set(names))
    np.testing.assert_allclose(model(x).asnumpy(), reference, atol=1e-5 * np.abs(reference).max())
    assert np.abs(reference).max() > 0.5  # calibrated: the comparison has signal


@pytest.mark.slow
def test_fold_after_graph_compile_is_refused():
    model = calibrated_xception(num_classes=2)
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        model(images(batch=1, size=71))
        with pytest.raises(RuntimeError, match="before the model's first graph-mode call"):
            model.fold_batchnorm()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.mark.slow
def test_folded_aligned_xception_keeps_its_logits():
    from mindcv.models import create_model

    model = create_model("xception41", num_classes=4, use_cpu_kernels=False, bn_momentum=0.0)
    model.set_train(True)
    model(images(batch=2, size=96, seed=5))  # BN statistics from real activations
    perturb_parameters(model, seed=2)
    model.set_train(False)
    x = images(batch=2, size=96)
    reference = model(x).asnumpy()
    model.fold_batchnorm()
    assert not [c for _, c in model.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    np.testing.assert_allclose(model(x).asnumpy(), reference, atol=1e-4 * np.abs(reference).max())
