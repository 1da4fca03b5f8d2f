import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.models import FeatureExtractor, FeatureExtractWrapper, create_model
from tests.helpers import images


@pytest.fixture(scope="module")
def extractor():
    net = create_model("xception", features_only=True)
    net.set_train(False)
    return net


def test_all_stages_shapes_channels_and_reductions(extractor):
    outputs = extractor(images(batch=2, size=96))
    assert extractor.feature_info.channels() == [64, 128, 256, 728, 2048]
    assert extractor.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert [o.shape for o in outputs] == [(2, 64, 45, 45), (2, 128, 23, 23), (2, 256, 12, 12),
                                          (2, 728, 6, 6), (2, 2048, 3, 3)]
    assert all(float(o.min()) >= 0.0 for o in outputs)


def test_last_stage_equals_forward_features(extractor):
    x = images(batch=1, size=80)
    np.testing.assert_allclose(extractor(x)[-1].asnumpy(), extractor.model.forward_features(x).asnumpy(),
                               rtol=1e-5, atol=1e-6)


def test_out_indices_select_and_keep_parameter_names():
    net = create_model("xception", features_only=True, out_indices=(1, -1))
    net.set_train(False)
    assert net.feature_info.channels() == [128, 2048]
    assert [o.shape[1] for o in net(images(batch=1))] == [128, 2048]
    assert net.get_parameters().__next__().name == "conv1.weight"


@pytest.mark.slow
def test_graph_mode_features():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_model("xception", features_only=True, out_indices=(0, 3))
    net.set_train(False)
    assert [o.shape for o in net(images(batch=1, size=71))] == [(1, 64, 33, 33), (1, 728, 5, 5)]


@pytest.mark.parametrize("bad", [(5,), (-6,), (0, 0), ("1",)])
def test_invalid_out_indices_raise(bad):
    with pytest.raises(ValueError, match="out_indices"):
        create_model("xception", features_only=True, out_indices=bad)


def test_out_indices_without_features_only_raise():
    with pytest.raises(ValueError, match="features_only"):
        create_model("xception", out_indices=(1,))


@pytest.mark.parametrize("name", ["xception", "xception41", "xception71"])
def test_feature_stages_name_real_cells(name):
    model = create_model(name, features_only=True).model
    cells = dict(model.cells_and_names())
    assert all(info["module"] in cells for info in model.feature_info)


class _Block(nn.Cell):
    def __init__(self, cin, cout, downsample):
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2) if downsample else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, 3, pad_mode="valid")
        self.relu = nn.ReLU()

    def construct(self, x):
        return self.relu(self.conv(self.pool(x)))


class _Sequential(nn.Cell):
    """Three blocks inside a SequentialCell (flatten_sequential), or as direct children."""

    def __init__(self, inner: bool):
        super().__init__()
        blocks = [_Block(1, 6, False), _Block(6, 8, True), _Block(8, 8, True)]
        prefix = "feature." if inner else "block"
        if inner:
            self.feature = nn.SequentialCell(blocks)
            self.flatten_sequential = True
        else:
            self.block0, self.block1, self.block2 = blocks
        self.feature_info = [{"chs": c, "reduction": r, "name": f"{prefix}{i}"}
                             for i, (c, r) in enumerate([(6, 1), (8, 2), (8, 4)])]
        self.blocks = blocks

    def construct(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("inner", [False, True])
def test_feature_extract_wrapper_returns_the_stages_of_a_model_of_ones_own(mode, inner):
    ms.set_context(mode=mode)
    net = _Sequential(inner)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 1, 24, 24)).astype(np.float32))
    expected, y = [], x
    for block in net.blocks:
        y = block(y)
        expected.append(y.asnumpy())
    wrapped = FeatureExtractWrapper(net, [0, 2])
    out = wrapped(x)
    assert wrapped.out_channels == [6, 8] and len(out) == 2
    np.testing.assert_array_equal(out[0].asnumpy(), expected[0])
    np.testing.assert_array_equal(out[1].asnumpy(), expected[2])


def test_feature_extract_wrapper_on_xception_uses_its_own_stages():
    model = create_model("xception", num_classes=0)
    model.set_train(False)
    x = images(size=71)
    wrapped = FeatureExtractWrapper(model, [1, 4])
    ours = FeatureExtractor(model, (1, 4))(x)
    assert wrapped.out_channels == [128, 2048]
    for got, expected in zip(wrapped(x), ours):
        np.testing.assert_array_equal(got.asnumpy(), expected.asnumpy())
