import mindspore as ms
import numpy as np
import pytest

from mindcv.models import create_model
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
