"""Parity with Chollet's Keras Xception, and the Keras HDF5 converter."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import mindspore as ms
import numpy as np
import pytest

from mindcv.convert import ConversionError, convert_keras_xception, read_keras_h5
from mindcv.convert.__main__ import main as convert_main
from mindcv.models import create_model
from mindcv.models.helpers import load_weights
from mindcv.utils.errors import CheckpointError
from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint
from tests.http_server import serving

h5py = pytest.importorskip("h5py", reason="the convert extra")

MAX_ABS, MAX_REL = 1e-4, 1e-5

pytestmark = pytest.mark.slow  # runs Keras 3 on JAX, the parity reference


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on JAX, imported by the tests that use it (its import costs seconds, and this module is slow-marked)."""
    return pytest.importorskip("keras", reason="the test extra (Keras 3 on JAX, the parity reference)")


def _randomise_keras(keras, model: "keras.Model", rng: np.random.Generator) -> None:
    """BN statistics from a real forward pass, then every BN tensor and the dense bias perturbed."""
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in batch_norms:
        layer.momentum = 0.0
    model(rng.uniform(-1, 1, (4, 299, 299, 3)).astype("float32"), training=True)
    for layer in batch_norms:
        channels = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
        layer.beta.assign(rng.normal(0.0, 0.2, channels).astype("float32"))
        mean, var = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
        layer.moving_mean.assign((mean + rng.normal(0, 0.05, channels) * np.sqrt(var)).astype("float32"))
        layer.moving_variance.assign((var * rng.uniform(0.8, 1.25, channels)).astype("float32"))
    dense = model.get_layer("predictions")
    dense.bias.assign(rng.normal(0.0, 0.2, dense.bias.shape[0]).astype("float32"))


@pytest.fixture(scope="module")
def keras_run(keras, tmp_path_factory):
    """A randomised Keras Xception saved as legacy HDF5, and its logits at 299 and 224 pixels."""
    rng = np.random.default_rng(0)
    model = keras.applications.Xception(weights=None, classifier_activation=None)
    _randomise_keras(keras, model, rng)
    path = tmp_path_factory.mktemp("keras") / "xception_keras.h5"
    model.save(str(path))
    at_224 = keras.applications.Xception(weights=None, classifier_activation=None, input_shape=(224, 224, 3))
    at_224.set_weights(model.get_weights())
    inputs = {size: rng.uniform(-1, 1, (2, size, size, 3)).astype("float32") for size in (299, 224)}
    logits = {size: np.asarray(net(inputs[size], training=False)) for size, net in ((299, model), (224, at_224))}
    return path, inputs, logits


@pytest.fixture(scope="module")
def converted(keras_run, tmp_path_factory):
    path, _, _ = keras_run
    dst = tmp_path_factory.mktemp("converted") / "xception_keras.ckpt"
    assert convert_main(["keras", "--src", str(path), "--dst", str(dst)]) == 0
    return dst


def _logit_error(model: ms.nn.Cell, inputs: np.ndarray, reference: np.ndarray) -> "tuple[float, float]":
    model.set_train(False)
    ours = model(ms.Tensor(inputs.transpose(0, 3, 1, 2).copy())).asnumpy()
    diff = float(np.abs(ours - reference).max())
    return diff, diff / float(np.abs(reference).max())


@pytest.mark.parametrize("size", [299, 224])
def test_logits_match_keras(keras_run, converted, size):
    _, inputs, logits = keras_run
    model = create_model("xception", pretrained="keras_in1k", checkpoint_path=str(converted))
    assert model.bn1.eps == pytest.approx(1e-3)
    assert np.abs(logits[size]).max() > 1.0 and logits[size].std() > 0.1  # the comparison has signal
    max_abs, rel = _logit_error(model, inputs[size], logits[size])
    print(f"\nKeras parity at {size}px: max |diff| {max_abs:.2e}, relative {rel:.2e}")
    assert max_abs <= MAX_ABS and rel <= MAX_REL


@pytest.mark.parametrize("wrong", [{"pool_padding": "symmetric"}, {"bn_eps": 1e-5}])
def test_wrong_semantics_fail_the_parity_check(keras_run, converted, wrong):
    _, inputs, logits = keras_run
    model = create_model("xception", pretrained="keras_in1k", checkpoint_path=str(converted), **wrong)
    max_abs, rel = _logit_error(model, inputs[299], logits[299])
    print(f"\nKeras parity with {wrong}: max |diff| {max_abs:.2e}, relative {rel:.2e}")
    assert max_abs > MAX_ABS and rel > MAX_REL


def test_converted_checkpoint_records_its_origin(keras_run, converted):
    meta = checkpoint_metadata(read_checkpoint(converted))
    assert meta["converter"] == "keras" and meta["converted_from"] == keras_run[0].name
    assert len(meta["source_sha256"]) == 64


def test_weights_only_layout_and_kernel_layouts(keras_run, tmp_path):
    """Keras's published file keeps the layers at the root (``save_weights``), not under ``model_weights``."""
    path, _, _ = keras_run
    flat = tmp_path / "weights_only.h5"
    with h5py.File(path, "r") as src, h5py.File(flat, "w") as dst:
        for name in src["model_weights"]:
            src.copy(src["model_weights"][name], dst, name=name)
        for key, value in src["model_weights"].attrs.items():
            dst.attrs[key] = value
    layers = read_keras_h5(flat)
    state = convert_keras_xception(read_keras_h5(flat))
    depthwise = layers["block2_sepconv1"]["depthwise_kernel"]  # (3, 3, 64, 1)
    np.testing.assert_array_equal(state["blocks.0.rep.0.conv1.weight"][5, 0], depthwise[:, :, 5, 0])
    pointwise = layers["block2_sepconv1"]["pointwise_kernel"]  # (1, 1, 64, 128)
    np.testing.assert_array_equal(state["blocks.0.rep.0.pointwise.weight"][7, :, 0, 0], pointwise[0, 0, :, 7])
    stem = layers["block1_conv1"]["kernel"]  # (3, 3, 3, 32)
    np.testing.assert_array_equal(state["conv1.weight"][4, 2], stem[:, :, 2, 4])
    np.testing.assert_array_equal(state["classifier.weight"], layers["predictions"]["kernel"].T)


def test_missing_layers_are_named_and_shapes_checked_by_the_strict_load(keras_run):
    layers = read_keras_h5(keras_run[0])
    del layers["block7_sepconv2_bn"]
    del layers["block8_sepconv1"]["depthwise_kernel"]
    with pytest.raises(ConversionError) as info:
        convert_keras_xception(layers, source="broken.h5")
    message = str(info.value)
    assert "layer 'block7_sepconv2_bn' is missing" in message
    assert "layer 'block8_sepconv1' has no 'depthwise_kernel'" in message
    layers = read_keras_h5(keras_run[0])
    layers["block3_sepconv1"]["pointwise_kernel"] = layers["block3_sepconv1"]["pointwise_kernel"][..., :100]
    state = {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in convert_keras_xception(layers).items()}
    with pytest.raises(CheckpointError, match=r"blocks.1.rep.1.pointwise.weight \(100, 128, 1, 1\) vs model "
                                              r"\(256, 128, 1, 1\)"):
        load_weights(create_model("xception"), state, "broken.h5")


def test_notop_weights_convert_for_a_headless_model(keras_run):
    layers = read_keras_h5(keras_run[0])
    del layers["predictions"]
    state = convert_keras_xception(layers)
    assert not any(name.startswith("classifier") for name in state)
    model = create_model("xception", num_classes=0)
    ms.load_param_into_net(model, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in state.items()},
                           strict_load=True)
    np.testing.assert_array_equal(model.conv4.pointwise.weight.asnumpy(), state["conv4.pointwise.weight"])


def test_not_an_hdf5_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "weights.h5"
    bogus.write_bytes(b"this is not hdf5")
    assert convert_main(["keras", "--src", str(bogus), "--dst", str(tmp_path / "out.ckpt")]) == 2
    assert not (tmp_path / "out.ckpt").exists()
    with pytest.raises(ConversionError, match="not a readable HDF5 file"):
        read_keras_h5(bogus)


def test_pretrained_tag_downloads_and_converts_keras_file(keras_run, tmp_path, monkeypatch):
    path, inputs, logits = keras_run
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path / "cache"))
    with serving({"/xception_keras.h5": path.read_bytes()}) as server:
        model = create_model("xception", pretrained="keras_in1k",  # a mirror, and the hash of this file
                             pretrained_cfg_overlay={"url": server.url("/xception_keras.h5"), "file_hash": ""})
    assert server.hits["/xception_keras.h5"] == 1
    max_abs, _ = _logit_error(model, inputs[224], logits[224])
    assert max_abs <= MAX_ABS
