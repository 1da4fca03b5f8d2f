"""Device-side input normalisation and reproducible dropout."""
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn
from mindspore.dataset import vision

from mindcv.engine.networks import ClassificationNetwork, KeyedDropout, NormalizeInput
from mindcv.models import create_model
from tests.helpers import ROOT

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_normalize_input_equals_the_host_pipeline_bit_for_bit(mode):
    """MindCV normalises in the pipeline with MindSpore's Normalize, (x - mean) / std in float32. The device-side
    version must give the same bits: a last-bit difference in the inputs moves Xception's BatchNorm-shift
    gradients by percents of their size (they are sums that nearly cancel), so one step would not be MindCV's."""
    ms.set_context(mode=mode)
    images = np.random.default_rng(0).integers(0, 256, (2, 19, 17, 3), dtype=np.uint8)
    host = np.stack([vision.HWC2CHW()(vision.Normalize(MEAN, STD)(image)) for image in images])
    device = NormalizeInput(nn.Identity(), MEAN, STD)(Tensor(images)).asnumpy()
    np.testing.assert_array_equal(device, host)


def _dropout_output(step_value, seed=5, p=0.5, mode=ms.PYNATIVE_MODE):
    ms.set_context(mode=mode)
    step = Parameter(Tensor(step_value, ms.int64), name="rng_step", requires_grad=False)
    dropout = KeyedDropout(p, seed, step)
    dropout.set_train(True)
    return dropout(Tensor(np.ones((16, 512), np.float32))).asnumpy()


@pytest.mark.slow
def test_dropout_mask_depends_only_on_seed_and_step():
    first = _dropout_output(3)
    assert set(np.unique(first)) == {0.0, 2.0} and abs((first == 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(_dropout_output(3, mode=ms.GRAPH_MODE), first)
    assert not np.array_equal(_dropout_output(4), first) and not np.array_equal(_dropout_output(3, seed=6), first)
    code = ("import mindspore as ms, numpy as np; ms.set_device('CPU');"
            "from tests.engine.test_networks import _dropout_output; print(_dropout_output(3).sum())")
    other_process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(other_process.stdout.strip().splitlines()[-1]) == first.sum()


def test_dropout_is_off_in_evaluation_and_rate_is_respected():
    step = Parameter(Tensor(0, ms.int64), name="s", requires_grad=False)
    dropout = KeyedDropout(0.2, 1, step)
    dropout.set_train(False)
    x = Tensor(np.ones((4, 8), np.float32))
    assert np.array_equal(dropout(x).asnumpy(), x.asnumpy())
    assert abs((_dropout_output(0, p=0.2) == 0).mean() - 0.2) < 0.02


def test_classification_network_equals_the_model_in_evaluation():
    model = create_model("xception", num_classes=4, drop_rate=0.5)
    model.set_train(False)
    network = ClassificationNetwork(model, 0.5, seed=1)
    network.set_train(False)
    x = Tensor(np.random.default_rng(0).normal(0, 1, (2, 3, 71, 71)).astype(np.float32))
    np.testing.assert_allclose(network(x).asnumpy(), model(x).asnumpy(), rtol=1e-5, atol=1e-6)
    assert [p.name for p in network.get_parameters()][0] == "rng_step"
    assert {p.name for p in network.get_parameters()} - {p.name for p in model.get_parameters()} == {"rng_step"}
