"""Evaluation counts every readable image once, pads the last batch, and refuses to score nothing."""
import mindspore.dataset as ds
import numpy as np
import pytest
from mindspore import nn, ops

from mindcv.engine.evaluate import evaluate
from mindcv.utils.errors import DataError


class OneHotOfFirstPixel(nn.Cell):
    """Logits that put the class stored in the first pixel first: accuracy is known exactly."""

    def construct(self, x):
        return ops.one_hot(x[:, 0, 0, 0].astype(np.int32), 4, 5.0, 0.0)


def _loader(labels, batch):
    images = np.zeros((len(labels), 2, 2, 3), np.float32)
    images[:, 0, 0, 0] = [abs(v) for v in labels]
    images[1::3, 0, 0, 0] = 0  # every third image predicted as class 0
    data = ds.NumpySlicesDataset({"image": images, "label": np.array(labels, np.int32)}, shuffle=False)
    return data.batch(batch)


def test_metrics_exclude_padding_and_unreadable_images():
    labels = [1, 2, 3, -1, 2, 1, 3]  # -1: an unreadable file of the split (its placeholder is left out)
    metrics = evaluate(OneHotOfFirstPixel(), _loader(labels, 3), 3, progress=False)
    readable = [label for label in labels if label >= 0]
    predicted = [0 if i % 3 == 1 else abs(v) for i, v in enumerate(labels)]
    correct = sum(p == v for p, v in zip(predicted, labels) if v >= 0)
    assert metrics["num_images"] == len(readable) == 6
    assert metrics["top1"] == pytest.approx(100 * correct / 6)
    assert metrics["top5"] == pytest.approx(100.0)  # 4 classes: the label is always in the top 5


def test_zero_images_is_an_error():
    with pytest.raises(DataError, match="Validation saw no images"):
        evaluate(OneHotOfFirstPixel(), _loader([-1, -1], 2), 2, progress=False)
