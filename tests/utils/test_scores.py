"""utils/scores.py: softmax and log-softmax of logit rows, exact where the closed form is, and finite for logits
that would overflow a naive exp."""
import numpy as np
import pytest

from mindcv.utils.scores import log_softmax, softmax


def test_softmax_and_log_softmax_match_the_closed_form():
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    assert softmax(logits) == pytest.approx(np.array([[0.25, 0.75], [0.5, 0.5]]))
    assert log_softmax(logits) == pytest.approx(np.log([[0.25, 0.75], [0.5, 0.5]]))


def test_large_logits_neither_overflow_nor_lose_the_ranking():
    logits = np.array([[1000.0, 999.0, 0.0]])
    expected = np.array([1.0, np.exp(-1.0), np.exp(-1000.0)]) / (1.0 + np.exp(-1.0))
    assert softmax(logits)[0] == pytest.approx(expected, rel=1e-12)
    assert log_softmax(logits)[0] == pytest.approx([-np.log1p(np.exp(-1.0)), -1 - np.log1p(np.exp(-1.0)),
                                                     -1000 - np.log1p(np.exp(-1.0))])
    assert np.isfinite(log_softmax(logits)).all() and softmax(logits).sum() == pytest.approx(1.0)
