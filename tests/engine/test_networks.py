"""Device-side input normalisation."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn
from mindspore.dataset import vision

from mindcv.engine.networks import NormalizeInput

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
