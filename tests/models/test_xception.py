from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from mindcv.models import create_model, layers
from mindcv.models.layers import PointwiseConv2d
from mindcv.models.xception import Xception
from mindcv.ops import pointwise_conv_op
from mindcv.utils.errors import ConfigError
from tests.helpers import calibrated_xception, images, state_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _published_params():
    lines = (FIXTURES / "xception_checkpoint_params.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def model():
    net = create_model("xception")
    net.set_train(False)
    return net


def test_parameter_names_and_shapes_equal_published_checkpoint(model):
    ours = [f"{p.name} {tuple(p.shape)} {'trainable' if p.requires_grad else 'frozen'}"
            for p in model.get_parameters()]
    published = _published_params()
    assert len(published) == 236
    assert ours == published


def test_trainable_parameter_count(model):
    assert sum(int(np.prod(p.shape)) for p in model.trainable_params()) == 22_855_952
    assert sum(int(np.prod(p.shape)) for p in model.get_parameters()) == 22_910_480


@pytest.mark.parametrize("size, feature_size", [(299, 10), (224, 7), (71, 3)])
def test_output_shapes(model, size, feature_size):
    x = images(batch=1, size=size)
    assert model(x).shape == (1, 1000)
    assert model.forward_features(x).shape == (1, 2048, feature_size, feature_size)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (1, 2048)


def test_input_below_71_pixels_is_a_clear_error(model):
    with pytest.raises(ValueError, match="at least 71x71 pixels, got 70x70"):
        model(images(batch=1, size=70))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\)"):
        model(images(batch=1, size=71, channels=1))


def test_input_check_in_graph_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MindSpore writes the failed graph to ./rank_0/om/analyze_fail.ir
    ms.set_context(mode=ms.GRAPH_MODE)
    net = Xception(num_classes=2)
    with pytest.raises(ValueError, match="at least 71x71 pixels, got 64x64"):
        net(images(batch=1, size=64))


def test_reset_classifier_gives_fresh_head_with_published_names():
    net = create_model("xception", num_classes=10, drop_rate=0.0)
    net.set_train(False)
    net.reset_classifier(3)
    assert net.get_classifier().weight.shape == (3, 2048)
    assert [p.name for p in net.get_parameters()][-2:] == ["classifier.weight", "classifier.bias"]
    assert net(images(batch=2)).shape == (2, 3)
    net.reset_classifier(0)
    assert net(images(batch=2)).shape == (2, 2048)


def test_dropout_is_configurable_and_active_only_in_training():
    net = Xception(num_classes=4, drop_rate=0.5)
    x = images(batch=2)
    net.set_train(False)
    assert np.allclose(net(x).asnumpy(), net(x).asnumpy())
    net.set_train(True)
    first, second = net(x).asnumpy(), net(x).asnumpy()
    assert not np.allclose(first, second)
    with pytest.raises(ValueError, match="drop_rate"):
        Xception(drop_rate=1.0)


def test_bn_eps_and_pool_padding_change_the_network():
    keras_like = Xception(num_classes=2, bn_eps=1e-3)
    assert {c.eps for _, c in keras_like.cells_and_names() if isinstance(c, ms.nn.BatchNorm2d)} == {1e-3}
    symmetric = Xception(num_classes=2, pool_padding="symmetric")
    pools = [c for _, c in symmetric.cells_and_names() if isinstance(c, ms.nn.MaxPool2d)]
    assert len(pools) == 4
    with pytest.raises(ValueError, match="pool_padding"):
        Xception(pool_padding="valid")


def test_pool_padding_same_differs_from_symmetric_numerically():
    """TF 'same' pads only after for even sizes; symmetric pads both sides: different maxima at the border."""
    same, symmetric = calibrated_xception(num_classes=2), Xception(num_classes=2, pool_padding="symmetric")
    ms.load_param_into_net(symmetric, {p.name: p for p in same.get_parameters()})
    symmetric.set_train(False)
    x = images(batch=1, size=96)
    reference = same.forward_features(x).asnumpy()
    diff = np.abs(reference - symmetric.forward_features(x).asnumpy()).max()
    assert diff > 0.1 * np.abs(reference).max()


@pytest.mark.slow
def test_cpu_kernels_give_the_same_network_in_training():
    """Training mode (BatchNorm on batch statistics, in our kernel on CPU): outputs and moving averages."""
    fast = calibrated_xception(num_classes=4, drop_rate=0.0, use_cpu_kernels=True)
    plain = Xception(num_classes=4, drop_rate=0.0, bn_momentum=0.0, use_cpu_kernels=False)
    ms.load_param_into_net(plain, {name: ms.Parameter(value, name=name) for name, value in state_of(fast).items()})
    assert any(cell.fast_op is not None for _, cell in fast.cells_and_names() if isinstance(cell, ms.nn.BatchNorm2d))
    x = images(batch=4, size=80, seed=7)
    outputs = []
    for net in (fast, plain):
        net.set_train(True)
        outputs.append(net(x).asnumpy())
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-4 * np.abs(outputs[1]).max())
    for a, b in zip(fast.get_parameters(), plain.get_parameters()):
        if "moving" in a.name:  # momentum 0: the batch statistics of this step (unbiased variance)
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-4, atol=1e-4 * np.abs(b.asnumpy()).max(),
                                       err_msg=a.name)


@pytest.mark.slow
def test_cpu_kernels_give_the_same_network():
    """The model on mindcv's CPU kernels computes what it computes on MindSpore's ops: outputs and gradients."""
    fast = calibrated_xception(num_classes=4, drop_rate=0.0, use_cpu_kernels=True)
    plain = Xception(num_classes=4, drop_rate=0.0, use_cpu_kernels=False)
    ms.load_param_into_net(plain, {p.name: p for p in fast.get_parameters()})
    assert fast.use_cpu_kernels and not plain.use_cpu_kernels
    assert [p.name for p in fast.get_parameters()] == [p.name for p in plain.get_parameters()]
    x = images(batch=2, size=80)
    plain.set_train(False)
    reference = plain(x).asnumpy()
    np.testing.assert_allclose(fast(x).asnumpy(), reference, atol=1e-5 * np.abs(reference).max())
    grads = []
    for net in (fast, plain):  # eval-mode BN: batch statistics of 2 tiny images would amplify rounding
        net.set_train(False)
        loss = ms.nn.WithLossCell(net, ms.nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
        grad_fn = ms.value_and_grad(loss, None, net.trainable_params())
        grads.append(grad_fn(x, ms.Tensor(np.array([0, 3], np.int32)))[1])
    # Rounding differences (~1e-7) can flip a max-pool argmax between two nearly equal values, which moves
    # a few gradient entries (measured: up to 0.6% of a parameter's gradient norm); so parameters are
    # compared by relative norm, where a wrong backward kernel is off by O(1). tests/ops compares each
    # kernel's gradients elementwise.
    for param, a, b in zip(fast.trainable_params(), grads[0], grads[1]):
        a, b = a.asnumpy(), b.asnumpy()
        assert np.linalg.norm(a - b) <= 2e-2 * np.linalg.norm(b) + 1e-9, param.name


def test_preprocess_input_is_the_evaluation_pipeline_of_the_weights(tmp_path):
    from PIL import Image

    from mindcv.data import create_transforms
    from mindcv.models import get_pretrained_cfg
    from mindcv.models.xception import preprocess_input

    pixels = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    cfg = get_pretrained_cfg("xception.keras_in1k")
    batch = preprocess_input([tmp_path / "a.png", Image.fromarray(pixels), pixels], cfg).asnumpy()
    assert batch.shape == (3, 3, 299, 299) and -1.0 <= batch.min() and batch.max() <= 1.0  # Keras's [-1, 1]
    expected = pixels
    for op in create_transforms("imagenet", 299, False, crop_pct=0.875, interpolation="bicubic", mean=cfg.mean,
                                std=cfg.std)[1:]:
        expected = op(expected)
    for image in batch:
        np.testing.assert_array_equal(image, expected)


def test_decode_predictions_names_the_top_classes_with_probabilities():
    from mindcv.models.xception import decode_predictions

    logits = np.zeros((2, 1000), np.float32)
    logits[0, 281], logits[0, 285], logits[1, 1] = 5.0, 4.0, 3.0
    decoded = decode_predictions(logits, top=2)
    total = np.exp(5.0) + np.exp(4.0) + 998
    assert decoded[0][0][:2] == ("n02123045", "tabby") and decoded[0][1][:2] == ("n02124075", "Egyptian cat")
    assert decoded[0][0][2] == pytest.approx(np.exp(5.0) / total) and decoded[1][0][1] == "goldfish"
    probabilities = np.full((1, 1000), 0.0005)
    probabilities[0, 7] = 0.5005
    assert decode_predictions(probabilities, top=1)[0][0][2] == pytest.approx(0.5005)  # taken as they are
    with pytest.raises(ValueError, match="expects \\(batch, 1000\\)"):
        decode_predictions(np.zeros((1, 10)))


def _pointwise_ops(model):
    return {cell.fast_op for _, cell in model.cells_and_names() if isinstance(cell, PointwiseConv2d)}


def test_float32_matmul_precision_medium_runs_bf16_products_within_their_rounding(monkeypatch, caplog):
    """"medium" switches every pointwise convolution to the bf16 kernel: the logits move by bf16 rounding only
    (parameters untouched), and "highest" gives back the float32 network bit for bit. (On a CPU without bf16
    instructions the kernel computes the same products in float32 from the bf16-rounded operands.)"""
    monkeypatch.setattr(layers, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(layers, "cpu_has_amx", lambda: False)
    caplog.set_level("INFO", logger="mindcv")
    model = calibrated_xception(num_classes=4, drop_rate=0.0, use_cpu_kernels=True)
    model.set_train(False)
    x = images(batch=2, size=80, seed=5)
    before = state_of(model)
    highest = model(x).asnumpy()
    assert model.set_float32_matmul_precision("medium") == "highest"
    assert _pointwise_ops(model) == {pointwise_conv_op("bf16")}
    assert "bf16 inputs" in caplog.text
    medium = model(x).asnumpy()
    difference = np.abs(medium - highest).max()  # measured 0.6-2.4% of the largest logit over 8 initialisations
    assert 1e-5 * np.abs(highest).max() < difference < 6e-2 * np.abs(highest).max()
    assert model.set_float32_matmul_precision("highest") == "medium"
    assert _pointwise_ops(model) == {pointwise_conv_op("fp32")}
    assert np.array_equal(model(x).asnumpy(), highest)
    assert all(np.array_equal(value, before[name]) for name, value in state_of(model).items())


def test_float32_matmul_precision_medium_without_bf16_instructions_stays_float32(monkeypatch, caplog):
    monkeypatch.setattr(layers, "cpu_has_bf16", lambda: False)
    model = Xception(num_classes=4, use_cpu_kernels=True)
    model.set_float32_matmul_precision("medium")
    assert model.float32_matmul_precision == "highest" and _pointwise_ops(model) == {pointwise_conv_op("fp32")}
    assert "avx512_bf16 or amx_bf16" in caplog.text


def test_float32_matmul_precision_medium_on_an_amx_cpu_stays_float32(monkeypatch, caplog):
    """MindSpore 2.7's oneDNN has no AMX: there bf16 products measured slower than float32, so medium is declined."""
    monkeypatch.setattr(layers, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(layers, "cpu_has_amx", lambda: True)
    model = Xception(num_classes=4, use_cpu_kernels=True)
    assert model.set_float32_matmul_precision("medium") == "highest"
    assert model.float32_matmul_precision == "highest" and _pointwise_ops(model) == {pointwise_conv_op("fp32")}
    assert "stays float32 on this CPU (amx_bf16)" in caplog.text


def test_float32_matmul_precision_medium_without_the_kernels_says_it_runs_float32(caplog):
    model = Xception(num_classes=4, use_cpu_kernels=False)
    model.set_float32_matmul_precision("medium")
    assert model.float32_matmul_precision == "highest" and _pointwise_ops(model) == {None}
    assert "does not use" in caplog.text


def test_unknown_float32_matmul_precision_is_an_error():
    with pytest.raises(ConfigError, match="highest, medium"):
        Xception(num_classes=4).set_float32_matmul_precision("high")
