"""Evaluation counts every readable image once, pads the last batch, and refuses to score nothing."""
import mindspore as ms
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


class _PixelModel(nn.Cell):
    """A model with batch statistics: BatchNorm over the first pixel's channels, then 4 logits."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(3, momentum=0.5)
        self.head = nn.Dense(3, 4)

    def construct(self, x):
        return self.head(self.norm(x[:, 0, 0, :]))


def test_evaluation_leaves_a_training_model_training():
    """The evaluation network shares its model with the train step: afterwards every cell is back in the mode it
    was in, so BatchNorm goes on using (and updating) batch statistics. (In PyNative mode a model left in
    evaluation mode trained every epoch after the first validation with frozen BatchNorm.)"""
    model = _PixelModel()
    evaluation = nn.SequentialCell([model])  # a wrapper never set to train, as the evaluation network is
    model.set_train(True)
    batch = ms.Tensor(np.random.default_rng(0).normal(2.0, 1.0, (4, 2, 2, 3)).astype(np.float32))
    moving_before = model.norm.moving_mean.asnumpy().copy()
    evaluate(evaluation, _loader([1, 2, 3, 1], 2), 2, progress=False)
    assert np.array_equal(model.norm.moving_mean.asnumpy(), moving_before)  # evaluation used the moving statistics
    assert model.training and model.norm.training and model.head.training and model.phase == "train"
    assert not evaluation.training  # the wrapper's own mode (False) is kept too
    model(batch)
    assert not np.allclose(model.norm.moving_mean.asnumpy(), moving_before)  # training again: statistics move


def test_calibrating_evaluation_fits_the_temperature_of_its_logits():
    """evaluate(calibrate=True) fits the temperature to the logits it saw (padding and unreadable images left out)
    and reports NLL/ECE at it; top-1/top-5 stay those of the raw logits."""
    from mindcv.engine.calibration import calibration_metrics, calibration_sums, fit_temperature

    labels = [1, 2, 3, -1, 2, 1, 3, 0, 1, 2]
    metrics = evaluate(OneHotOfFirstPixel(), _loader(labels, 3), 3, progress=False, calibrate=True)
    readable = np.array([v for v in labels if v >= 0])
    predicted = np.array([0 if i % 3 == 1 else abs(v) for i, v in enumerate(labels) if v >= 0])
    logits = np.eye(4)[predicted] * 5.0  # what OneHotOfFirstPixel gives
    expected = fit_temperature(lambda t: calibration_sums(logits, readable, t)[0])
    assert metrics["temperature"] == pytest.approx(expected, rel=1e-9)
    at, raw = (calibration_metrics(calibration_sums(logits, readable, t)) for t in (expected, 1.0))
    for key in ("nll", "ece"):
        assert metrics["calibrated"][key] == pytest.approx(at[key]) and metrics[key] == pytest.approx(raw[key])
    assert metrics["calibrated"]["reliability"]["images"] == at["reliability"]["images"]
    assert metrics["loss"] == metrics["nll"]
    again = evaluate(OneHotOfFirstPixel(), _loader(labels, 3), 3, progress=False, temperature=expected)
    assert again["at_temperature"]["nll"] == pytest.approx(at["nll"]) and "temperature" not in again
    assert metrics["top1"] == pytest.approx(100 * np.mean(predicted == readable))
