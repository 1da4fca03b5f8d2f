"""Expected calibration error in closed form; the fitted temperature recovers a known one and minimises the NLL;
sums of shards give the whole set's numbers; the reliability diagram is drawn."""
import math

import numpy as np
import pytest

from mindcv.engine.calibration import (ECE_BINS, calibration_metrics, calibration_sums, fit_temperature,
                                       plot_reliability)


def _overconfident(temperature: float, images: int = 20000, classes: int = 10, seed: int = 0):
    """Labels drawn from softmax(z) (so z is calibrated), and the logits z * temperature a model would give."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, (images, classes))
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = (probs.cumsum(axis=1) > rng.random((images, 1))).argmax(axis=1)
    return z * temperature, labels


def test_ece_and_nll_in_closed_form():
    # top-1 probabilities 0.9 (right), 0.9 (wrong), 0.6 (right), 0.5 (exactly on a bin edge: bin 7, right)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    metrics = calibration_metrics(calibration_sums(np.log(probs), labels))
    nll = -(math.log(0.9) + math.log(0.1) + math.log(0.6) + math.log(0.5)) / 4
    assert metrics["nll"] == pytest.approx(nll, rel=1e-12)
    # bins of width 1/15: 0.9 -> 13, 0.6 -> 9, 0.5 -> 7; |0.9*2 - 1| + |0.6 - 1| + |0.5 - 1| over 4 images
    assert metrics["ece"] == pytest.approx(100 * (0.8 + 0.4 + 0.5) / 4, rel=1e-12)
    table = metrics["reliability"]
    assert table["images"] == [0] * 7 + [1, 0, 1, 0, 0, 0, 2, 0] and len(table["images"]) == ECE_BINS
    assert table["accuracy"][13] == 0.5 and table["confidence"][13] == pytest.approx(0.9)
    assert math.isnan(table["accuracy"][0])


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_the_fitted_temperature_recovers_a_known_one_and_minimises_the_nll(true_temperature):
    logits, labels = _overconfident(true_temperature)

    def nll(t):
        return calibration_sums(logits, labels, t)[0]

    fitted = fit_temperature(nll)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    assert nll(fitted) <= min(nll(fitted * 0.99), nll(fitted * 1.01))
    before = calibration_metrics(calibration_sums(logits, labels))
    after = calibration_metrics(calibration_sums(logits, labels, fitted))
    assert after["ece"] < before["ece"] / 3 and after["nll"] < before["nll"]
    # top-1 is unchanged: the same images are right, bin by bin counts aside
    assert sum(after["reliability"]["images"]) == sum(before["reliability"]["images"])


def test_sums_of_shards_are_the_sums_of_the_set():
    """What data-parallel ranks all-reduce: the shards' sums add up to the set's, so every rank fits the same
    temperature as one process would."""
    logits, labels = _overconfident(2.0, images=3000)
    shards = [(logits[i::3], labels[i::3]) for i in range(3)]
    for t in (0.7, 1.0, 2.0):
        whole = calibration_sums(logits, labels, t)
        assert np.allclose(sum(calibration_sums(x, y, t) for x, y in shards), whole, rtol=1e-12, atol=1e-9)
    fitted = fit_temperature(lambda t: sum(calibration_sums(x, y, t)[0] for x, y in shards))
    assert fitted == pytest.approx(fit_temperature(lambda t: calibration_sums(logits, labels, t)[0]), rel=1e-6)


def test_the_reliability_diagram_is_a_png(tmp_path):
    logits, labels = _overconfident(2.0, images=2000)
    before = dict(calibration_metrics(calibration_sums(logits, labels)), temperature=1.0)
    after = dict(calibration_metrics(calibration_sums(logits, labels, 2.0)), temperature=2.0)
    path = plot_reliability(before, after, tmp_path / "reliability.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and list(tmp_path.iterdir()) == [path]
