"""MindCV's dynamic_lr functions: the values MindCV 0.3.0 computes, and their defining points."""
import math

import pytest

from mindcv.scheduler import dynamic_lr
from tests import golden_cases as cases

GOLDEN = cases.load_fixture()["dynamic_lr"]


@pytest.mark.parametrize("row", GOLDEN, ids=[f"{r['case']['name']}{r['case']['args']}" for r in GOLDEN])
def test_same_values_as_mindcv(row):
    case = row["case"]
    got = getattr(dynamic_lr, case["name"])(*case["args"], **case["kwargs"])
    assert got == pytest.approx(row["result"], rel=1e-12, abs=1e-15)


def test_warm_restarts_start_over_at_the_maximum_with_growing_periods():
    rates = dynamic_lr.cosine_annealing_warm_restarts_lr(2, 2, 0.0, eta_max=1.0, steps_per_epoch=1, epochs=8)
    assert [i for i, rate in enumerate(rates) if rate == 1.0] == [0, 2, 6]  # periods of 2, then 4 epochs
    assert rates[1] == pytest.approx(0.5)


def test_one_cycle_and_cyclic_reach_their_bounds():
    rates = dynamic_lr.one_cycle_lr(1.0, 0.3, "cos", 10.0, 100.0, steps_per_epoch=5, epochs=4)
    assert rates[0] == pytest.approx(0.1) and max(rates) == pytest.approx(1.0) and rates[-1] == pytest.approx(1e-3)
    assert rates.index(max(rates)) == math.floor(0.3 * 20 - 1)
    cyclic = dynamic_lr.cyclic_lr(0.0, 1.0, 2, steps_per_epoch=4, epochs=2)
    assert cyclic == pytest.approx([0.0, 0.5, 1.0, 0.5] * 2)


def test_fractional_epochs_give_rounded_step_counts():
    assert len(dynamic_lr.linear_refined_lr(0.0, 1.0, 1.5, lr=1.0, steps_per_epoch=4, epochs=1.5)) == 6
