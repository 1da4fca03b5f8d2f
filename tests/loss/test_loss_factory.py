import mindspore as ms
import numpy as np
import pytest

from mindcv.loss import create_loss


def _logits():
    return ms.Tensor(np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], np.float32))


def _log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_cross_entropy_with_label_smoothing_matches_formula():
    labels = np.array([0, 2], np.int32)
    logp = _log_softmax(_logits().asnumpy())
    target = np.full((2, 3), 0.1 / 3) + np.eye(3)[labels] * 0.9
    expected = -(target * logp).sum(axis=1).mean()
    value = create_loss("CE", 0.1)(_logits(), ms.Tensor(labels)).asnumpy()
    assert value == pytest.approx(expected, rel=1e-5)


def test_soft_targets_are_used_as_given():
    soft = np.array([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]], np.float32)
    expected = -(soft * _log_softmax(_logits().asnumpy())).sum(axis=1).mean()
    value = create_loss("CE", 0.1)(_logits(), ms.Tensor(soft)).asnumpy()
    assert value == pytest.approx(expected, rel=1e-5)


def test_binary_cross_entropy():
    labels = np.array([0, 2], np.int32)
    x = _logits().asnumpy()
    target = np.eye(3)[labels]
    expected = np.mean(np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x))))
    assert create_loss("BCE")(_logits(), ms.Tensor(labels)).asnumpy() == pytest.approx(expected, rel=1e-5)


def test_unknown_loss():
    with pytest.raises(ValueError, match="Unknown loss 'focal'"):
        create_loss("focal")
