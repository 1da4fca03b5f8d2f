"""Schedules: MindCV's values for 9 schedules x warmup x per-epoch, cosine restarts, and closed forms."""
import math

import pytest

from mindcv.scheduler import create_scheduler
from mindcv.utils.errors import ConfigError
from tests import golden_cases as cases

GOLDEN = cases.load_fixture()["schedules"]


@pytest.mark.parametrize("row", GOLDEN, ids=[str(r["case"]) for r in GOLDEN])
def test_same_learning_rates_as_mindcv(row):
    if isinstance(row["result"], dict):  # MindCV refuses: so do we
        with pytest.raises(ConfigError):
            create_scheduler(**row["case"])
        return
    assert create_scheduler(**row["case"]) == pytest.approx(row["result"], rel=1e-6, abs=1e-12)


def test_upstream_xception_schedule_closed_form():
    """5 warmup epochs from 0, then cosine over 195 epochs to 0 (configs/xception/xception_ascend.yaml)."""
    steps = 10
    rates = create_scheduler(steps, "warmup_cosine_decay", lr=0.045, min_lr=0.0, warmup_epochs=5, decay_epochs=195,
                             num_epochs=200)
    assert len(rates) == 2000 and rates[0] == 0.0
    assert rates[25] == pytest.approx(0.045 * 25 / 50)
    assert rates[50] == pytest.approx(0.045)
    assert rates[50 + 975] == pytest.approx(0.0225)  # half-way through the decay
    assert rates[-1] == pytest.approx(0.045 * 0.5 * (1 + math.cos(math.pi * 1949 / 1950)))


def test_step_decay_counts_from_the_end_of_warmup():
    rates = create_scheduler(1, "step_decay", lr=1.0, warmup_epochs=2, decay_epochs=2, decay_rate=0.5,
                             num_epochs=7)
    assert rates == pytest.approx([0.0, 0.5, 1.0, 1.0, 0.5, 0.5, 0.25])


def test_fractional_warmup_is_allowed_here():
    rates = create_scheduler(10, "constant", lr=1.0, warmup_epochs=0.5, warmup_factor=0.0, num_epochs=1)
    assert rates[:5] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8]) and rates[5:] == [1.0] * 5


@pytest.mark.parametrize("kwargs, message", [
    (dict(scheduler="cosine_decy"), "Did you mean: cosine_decay"),
    (dict(scheduler="cosine_decay", decay_epochs=0), "decay_epochs >= 1"),
    (dict(scheduler="one_cycle", warmup_epochs=1), "without warmup"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_scheduler(3, **kwargs)
