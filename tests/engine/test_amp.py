"""Mixed precision: which operations compute in float16 at each level, and the loss always in float32."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from mindcv.engine.amp import LossNetwork, auto_mixed_precision, parse_cast_list
from mindcv.models import create_model
from mindcv.utils.errors import ConfigError
from tests.helpers import images


def _dtypes(network, model, x):
    """(input, output) dtypes of every conv, BatchNorm and dense layer in a forward pass of ``network`` (the input
    as handed to the cell, before the cast its precision setting applies)."""
    seen = {}

    def hook(name):
        def record(cell, inputs, output):
            seen[name] = (inputs[0].dtype, output.dtype)
        return record

    handles = [cell.register_forward_hook(hook(name.replace(".cell", ""))) for name, cell in model.cells_and_names()
               if isinstance(cell, (nn.Conv2d, nn.BatchNorm2d, nn.Dense))]
    logits = network(x)
    for handle in handles:
        handle.remove()
    return seen, logits


@pytest.mark.parametrize("level, conv, bn, dense", [
    ("O0", ms.float32, ms.float32, ms.float32),
    ("O1", ms.float16, ms.float32, ms.float16),
    ("O2", ms.float16, ms.float32, ms.float16),
    ("O3", ms.float16, ms.float16, ms.float16),
])
def test_compute_dtypes_per_level(level, conv, bn, dense):
    model = create_model("xception", num_classes=3, drop_rate=0.0, use_cpu_kernels=False)
    model.set_train(False)
    reference = model(images(size=71)).asnumpy()
    network = auto_mixed_precision(model, level)
    seen, logits = _dtypes(network, model, images(size=71))
    assert seen["conv1"][1] == conv and seen["blocks.0.rep.0.pointwise"][1] == conv  # what the op computed in
    assert seen["bn1"][1] == bn and seen["classifier"][1] == dense
    if level == "O0":
        np.testing.assert_array_equal(logits.asnumpy(), reference)
    else:  # really computed in half precision: close, not equal
        difference = np.abs(logits.asnumpy().astype(np.float32) - reference).max()
        assert 0 < difference < 0.05 * max(1.0, np.abs(reference).max())


def test_the_loss_sees_float32_logits():
    model = create_model("xception", num_classes=3, drop_rate=0.0, use_cpu_kernels=False)
    received = {}

    class Spy(nn.Cell):
        def construct(self, logits, labels):
            received["dtype"] = logits.dtype
            return ops.mean(logits)

    loss = LossNetwork(auto_mixed_precision(model, "O3"), Spy())(images(size=71), ms.Tensor(np.array([0, 1], np.int32)))
    assert received["dtype"] == ms.float32 and loss.dtype == ms.float32


def test_cast_list_selects_the_cells():
    assert parse_cast_list("[nn.Conv2d, nn.Dense]") == (nn.Conv2d, nn.Dense)
    model = create_model("xception", num_classes=3, use_cpu_kernels=False)
    seen, _ = _dtypes(auto_mixed_precision(model, "O1", "[nn.Dense]"), model, images(size=71))
    assert seen["conv1"][1] == ms.float32 and seen["classifier"][1] == ms.float16
    with pytest.raises(ConfigError, match="not a mindspore.nn cell class"):
        parse_cast_list("[os.system]")
