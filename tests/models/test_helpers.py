import hashlib
import logging
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.models import (build_model_with_cfg, create_model, get_checkpoint_download_root, load_model_checkpoint,
                           load_pretrained, make_divisible)
from mindcv.data.transforms_factory import Preprocessing
from mindcv.models.helpers import adapt_input_conv
from mindcv.models.registry import get_pretrained_cfg
from mindcv.utils import CheckpointError, DownloadError
from tests.helpers import calibrated_xception, images, state_of
from tests.http_server import FileServer


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A 1000-class checkpoint with the published names, and the model that wrote it."""
    model = calibrated_xception(seed=3, num_classes=1000)
    path = tmp_path_factory.mktemp("ckpt") / "xception_published.ckpt"
    ms.save_checkpoint(model, str(path))
    return model, path


@pytest.fixture(scope="module")
def training_checkpoint(published, tmp_path_factory):
    """A real MindSpore training checkpoint: weights, Momentum moments, step counters and EMA copies."""
    model, _ = published
    optimizer = nn.Momentum(model.trainable_params(), learning_rate=0.1, momentum=0.9)
    step = nn.TrainOneStepCell(nn.WithLossCell(model, nn.SoftmaxCrossEntropyWithLogits(sparse=True)), optimizer)
    ema = [{"name": f"ema.{p.name}", "data": ms.Tensor(p.asnumpy() * 0.5)} for p in model.trainable_params()]
    path = tmp_path_factory.mktemp("ckpt") / "train.ckpt"
    entries = [{"name": p.name, "data": p} for p in step.get_parameters()] + ema
    ms.save_checkpoint(entries, str(path))
    return path


def test_published_checkpoint_round_trips(published):
    model, path = published
    loaded = create_model("xception", checkpoint_path=str(path))
    source = state_of(model)
    assert all(np.array_equal(value, source[name]) for name, value in state_of(loaded).items())
    loaded.set_train(False)
    x = images(batch=2, size=96)
    np.testing.assert_allclose(loaded(x).asnumpy(), model(x).asnumpy(), rtol=1e-5, atol=1e-5)


def test_a_checkpoint_never_changes_classifier_shape_silently(training_checkpoint, published):
    with pytest.raises(CheckpointError, match=r"classifier of shape \(1000, 2048\) .* model's is \(10, 2048\); build "
                                              r"the model with num_classes=1000"):
        create_model("xception", num_classes=10, checkpoint_path=str(training_checkpoint))


def test_fine_tuning_keeps_a_fresh_classifier_and_says_so(training_checkpoint, published, info_logs):
    model, _ = published
    finetune = create_model("xception", num_classes=10)
    load_model_checkpoint(finetune, str(training_checkpoint), adapt_head=True)
    ours, source = state_of(finetune), state_of(model)
    assert finetune.classifier.weight.shape == (10, 2048)
    assert all(np.array_equal(ours[k], source[k]) for k in ours if not k.startswith("classifier."))
    assert "1000-class classifier" in info_logs.text and "10 classes" in info_logs.text


def test_ema_weights_are_selected(training_checkpoint, published):
    model, _ = published
    ema_model = create_model("xception", checkpoint_path=str(training_checkpoint), ema=True)
    ours, source = state_of(ema_model), state_of(model)
    np.testing.assert_allclose(ours["conv1.weight"], source["conv1.weight"] * 0.5)
    assert np.array_equal(ours["bn1.moving_mean"], source["bn1.moving_mean"])


def test_ema_without_ema_weights_errors(published):
    _, path = published
    with pytest.raises(CheckpointError, match="holds no EMA weights"):
        create_model("xception", checkpoint_path=str(path), ema=True)


def test_grey_input_channel_equals_rgb_replicated(published):
    model, path = published
    grey_model = create_model("xception", in_channels=1, checkpoint_path=str(path))
    grey_model.set_train(False)
    grey = images(batch=2, size=80, channels=1)
    rgb = ms.Tensor(np.repeat(grey.asnumpy(), 3, axis=1))
    np.testing.assert_allclose(grey_model(grey).asnumpy(), model(rgb).asnumpy(), rtol=1e-4, atol=1e-4)


def test_adapt_input_conv_many_channels_keeps_response_scale():
    weight = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    adapted = adapt_input_conv(weight, 5)
    assert adapted.shape == (4, 5, 3, 3)
    np.testing.assert_allclose(adapted[:, 3], weight[:, 0] * 3 / 5, rtol=1e-6)
    assert np.array_equal(adapt_input_conv(weight, 3), weight)


def test_missing_checkpoint_path_raises(tmp_path):
    with pytest.raises(CheckpointError, match="Checkpoint file not found: .*nope.ckpt"):
        create_model("xception", checkpoint_path=str(tmp_path / "nope.ckpt"))


def test_corrupt_checkpoint_names_the_file(tmp_path, published):
    _, path = published
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="broken.ckpt could not be read"):
        create_model("xception", checkpoint_path=str(broken))


def test_mismatched_names_are_all_reported(tmp_path, published):
    model, _ = published
    entries = [{"name": ("renamed." + p.name) if p.name.startswith("blocks.3.") else p.name, "data": p}
               for p in model.get_parameters()]
    entries.append({"name": "bn1.gamma", "data": ms.Tensor(np.ones(7, np.float32))})
    entries = [e for e in entries if e["name"] != "bn1.gamma" or e["data"].shape == (7,)]
    path = tmp_path / "renamed.ckpt"
    ms.save_checkpoint(entries, str(path))
    with pytest.raises(CheckpointError) as err:
        create_model("xception", checkpoint_path=str(path))
    message = str(err.value)
    assert "18 model parameters missing" in message and "blocks.3.rep.1.conv1.weight" in message
    assert "18 unexpected checkpoint entries" in message and "renamed.blocks.3" in message
    assert "1 shape mismatches: bn1.gamma (7,) vs model (32,)" in message


@pytest.fixture
def weights_server(published):
    _, path = published
    body = path.read_bytes()
    server = FileServer()
    server.routes["/xception.ckpt"] = (body, "ok")
    yield server, hashlib.sha256(body).hexdigest()
    server.stop()


def test_pretrained_download_and_cache(weights_server, published, tmp_path, monkeypatch):
    server, sha = weights_server
    model, _ = published
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    overlay = {"url": server.url("/xception.ckpt"), "file_hash": sha, "filename": "xception_test.ckpt"}
    net = create_model("xception", pretrained=True, pretrained_cfg_overlay=overlay)
    assert np.array_equal(state_of(net)["bn4.moving_variance"], state_of(model)["bn4.moving_variance"])
    assert net.pretrained_cfg.url == overlay["url"]
    server.stop()
    create_model("xception", pretrained=True, pretrained_cfg_overlay=overlay)
    assert server.hits["/xception.ckpt"] == 1
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if p.is_file()) == ["xception_test.ckpt"]


@pytest.mark.slow
def test_a_released_checkpoint_with_optimizer_state_fine_tunes_with_another_head(training_checkpoint, published,
                                                                                tmp_path, monkeypatch, info_logs):
    """MindCV issue #697: a released checkpoint that carries optimizer moments, step counters and EMA copies,
    downloaded as a pretrained tag (from 127.0.0.1), loads into a 10-class model: every weight but the head is the
    checkpoint's own (not its EMA copy), the head is new and the log says so."""
    model, _ = published
    body = training_checkpoint.read_bytes()
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    server = FileServer()
    server.routes["/released.ckpt"] = (body, "ok")
    try:
        overlay = {"url": server.url("/released.ckpt"), "file_hash": hashlib.sha256(body).hexdigest(),
                   "filename": "released.ckpt"}
        net = create_model("xception", pretrained=True, num_classes=10, pretrained_cfg_overlay=overlay)
    finally:
        server.stop()
    ours, source = state_of(net), state_of(model)
    assert net.classifier.weight.shape == (10, 2048) and server.hits["/released.ckpt"] == 1
    assert all(np.array_equal(ours[k], source[k]) for k in ours if not k.startswith("classifier."))
    assert "1000-class classifier" in info_logs.text and "10 classes" in info_logs.text


def test_pretrained_download_failure_never_gives_random_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    with pytest.raises(DownloadError, match="put it at .*xception-174_5004_v2.ckpt"):
        create_model("xception", pretrained=True,
                     pretrained_cfg_overlay={"url": "http://127.0.0.1:9/xception-174_5004_v2.ckpt"})


def test_pretrained_with_local_file_skips_download(published, tmp_path, monkeypatch):
    model, path = published
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    net = create_model("xception", pretrained=True, checkpoint_path=str(path), num_classes=5, in_channels=1)
    assert net.classifier.weight.shape == (5, 2048)
    np.testing.assert_allclose(state_of(net)["conv1.weight"], state_of(model)["conv1.weight"].sum(1, keepdims=True),
                               rtol=1e-6)
    assert list(tmp_path.iterdir()) == []


def test_pretrained_tag_with_a_local_file_of_another_head_is_an_error(tmp_path):
    """The published 1000-class tag cannot be fed a 10-class training checkpoint (it would print ImageNet labels
    from a random classifier)."""
    ten = create_model("xception", num_classes=10)
    path = tmp_path / "ten.ckpt"
    ms.save_checkpoint(ten, str(path))
    with pytest.raises(CheckpointError, match="classifier of shape \\(10, 2048\\)"):
        create_model("xception", pretrained="mindcv_in1k", checkpoint_path=str(path))


def test_a_tags_preprocessing_is_its_input_size_crop_interpolation_and_statistics():
    cfg = get_pretrained_cfg("xception", "keras_in1k").overlay({"input_size": (3, 71, 71), "crop_pct": 1.0})
    assert cfg.preprocessing == Preprocessing(71, 1.0, cfg.interpolation, tuple(cfg.mean), tuple(cfg.std))
    assert cfg.preprocessing.mean != Preprocessing().mean  # Keras weights want [-1, 1] inputs, not ImageNet's


def test_overlay_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown keys \\['urll'\\]"):
        create_model("xception", pretrained=True, pretrained_cfg_overlay={"urll": "x"})


@pytest.mark.slow
def test_model_args_of_a_tag_are_applied_and_user_override_warns(caplog):
    caplog.set_level(logging.WARNING, logger="mindcv")
    net = create_model("xception", pretrained_cfg_overlay={"model_args": {"bn_eps": 1e-3}})
    assert net.bn1.eps == 1e-5
    net = create_model("xception.mindcv_in1k", pretrained_cfg_overlay={"model_args": {"bn_eps": 1e-3}})
    assert net.bn1.eps == 1e-3
    net = create_model("xception.mindcv_in1k", bn_eps=1e-4,
                       pretrained_cfg_overlay={"model_args": {"bn_eps": 1e-3}})
    assert net.bn1.eps == 1e-4 and "overrides" in caplog.text


@pytest.mark.parametrize("value, divisor, min_value, expected", [(24, 8, None, 24), (10, 8, None, 16), (3, 8, None, 8),
                                                                  (37, 8, 16, 40), (100, 3, None, 99)])
def test_make_divisible_rounds_as_mindcv(value, divisor, min_value, expected):
    assert make_divisible(value, divisor, min_value) == expected


class TinyNet(nn.Cell):
    """A model of one's own, as MindCV's builders take it: stages listed in feature_info with MindCV's keys."""

    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, has_bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2, 2)
        self.flatten = nn.Flatten()
        self.classifier = nn.Dense(4 * 4 * 4, num_classes)
        self.feature_info = [{"chs": 4, "reduction": 1, "name": "relu"}, {"chs": 4, "reduction": 2, "name": "pool"}]

    def construct(self, x):
        return self.classifier(self.flatten(self.pool(self.relu(self.conv1(x)))))


def test_mindcv_builders_for_a_model_of_ones_own(tmp_path, monkeypatch):
    """build_model_with_cfg(model_cls, pretrained, default_cfg, ...) with MindCV's dict config: the weights come
    from the cache (no download when the file is there), strictly, through filter_fn; features_only wraps."""
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    source = TinyNet(num_classes=10)
    Path(get_checkpoint_download_root()).mkdir(parents=True)
    ms.save_checkpoint(source, str(Path(get_checkpoint_download_root()) / "tiny.ckpt"))
    cfg = {"url": "http://127.0.0.1:9/tiny.ckpt", "num_classes": 10, "first_conv": "conv1", "classifier": "classifier"}
    seen = []
    model = build_model_with_cfg(TinyNet, True, cfg, num_classes=10)
    assert np.array_equal(state_of(model)["classifier.weight"], state_of(source)["classifier.weight"])
    fresh = TinyNet(num_classes=3)
    load_pretrained(fresh, cfg, 3, 3, filter_fn=lambda state: seen.append(sorted(state)) or state)
    assert seen == [sorted(p.name for p in source.get_parameters())]
    assert np.array_equal(state_of(fresh)["conv1.weight"], state_of(source)["conv1.weight"])
    assert fresh.classifier.weight.shape == (3, 64)  # another class count: the classifier stays fresh
    features = build_model_with_cfg(TinyNet, False, cfg, features_only=True, out_indices=[1])
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 3, 10, 10)).astype(np.float32))
    out = features(x)
    assert len(out) == 1 and features.out_channels == [4]
    expected = features.net.pool(features.net.relu(features.net.conv1(x)))
    np.testing.assert_array_equal(out[0].asnumpy(), expected.asnumpy())


def test_load_model_checkpoint_takes_mindcv_positional_arguments(published, info_logs):
    model, path = published
    fresh = create_model("xception", num_classes=1000)
    load_model_checkpoint(fresh, str(path), False, True)  # checkpoint_path, ema, auto_mapping
    assert np.array_equal(state_of(fresh)["bn4.moving_mean"], state_of(model)["bn4.moving_mean"])
    assert "auto_mapping has no effect" in info_logs.text


@pytest.mark.slow
def test_mindcv_legacy_tag_checks_the_hash_in_its_file_name(weights_server, tmp_path, monkeypatch):
    """The file MindCV's own create_model downloads: served from 127.0.0.1 under the tag's own name, a body whose
    sha256 does not start with the name's '2c1e711df' is refused and nothing is cached."""
    server, sha = weights_server
    assert not sha.startswith("2c1e711df")
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    cfg = create_model("xception").pretrained_cfg  # the default tag: the card's file, without a published hash
    assert (cfg.filename, cfg.file_hash) == ("xception-174_5004_v2.ckpt", "")
    legacy = create_model("xception.mindcv_legacy_in1k").pretrained_cfg
    assert (legacy.url.rsplit("/", 1)[1], legacy.file_hash, legacy.top1, legacy.top5) == (
        "xception-2c1e711df.ckpt", "2c1e711df", 79.01, 94.25)
    with pytest.raises(DownloadError, match="2c1e711df"):
        create_model("xception", pretrained="mindcv_legacy_in1k",
                     pretrained_cfg_overlay={"url": server.url("/xception.ckpt")})
    assert not [p for p in (tmp_path / "models").rglob("*") if p.is_file() and ".locks" not in p.parts]
