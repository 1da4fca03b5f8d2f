"""models/layers.py: the reproducible dropout of training and the head slot that holds it."""
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, Tensor, ops

from mindcv.models import create_model
from mindcv.models.layers import KeyedDropout
from tests.helpers import ROOT


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
            "from tests.models.test_layers import _dropout_output; print(_dropout_output(3).sum())")
    other_process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(other_process.stdout.strip().splitlines()[-1]) == first.sum()


def test_dropout_is_off_in_evaluation_and_rate_is_respected():
    step = Parameter(Tensor(0, ms.int64), name="s", requires_grad=False)
    dropout = KeyedDropout(0.2, 1, step)
    dropout.set_train(False)
    x = Tensor(np.ones((4, 8), np.float32))
    assert np.array_equal(dropout(x).asnumpy(), x.asnumpy())
    assert abs((_dropout_output(0, p=0.2) == 0).mean() - 0.2) < 0.02




def test_the_keyed_dropout_slot_trains_the_models_own_head_and_adds_no_parameter():
    """Training runs the model's forward, whose head applies the keyed dropout; evaluation is unchanged, and the
    counter stays out of the model's parameters (checkpoint names, EMA, digests)."""
    model = create_model("xception", num_classes=4, drop_rate=0.5)
    x = Tensor(np.random.default_rng(0).normal(0, 1, (2, 3, 71, 71)).astype(np.float32))
    model.set_train(False)
    before = model(x).asnumpy()
    names = [p.name for p in model.get_parameters()]
    step = Parameter(Tensor(7, ms.int64), name="rng_step", requires_grad=False)
    model.use_keyed_dropout(seed=3, step=step)
    assert [p.name for p in model.get_parameters()] == names
    np.testing.assert_array_equal(model(x).asnumpy(), before)
    model.set_train(True)
    features = model.forward_features(x)
    pooled = ops.mean(features, axis=(2, 3))
    dropout = KeyedDropout(0.5, 3, step)
    dropout.set_train(True)
    expected = model.classifier(dropout(pooled)).asnumpy()
    trained = model.forward_head(features).asnumpy()
    np.testing.assert_allclose(trained, expected, rtol=1e-6, atol=1e-6)
    assert not np.allclose(trained, model.classifier(pooled).asnumpy(), atol=1e-3)  # the mask is applied
