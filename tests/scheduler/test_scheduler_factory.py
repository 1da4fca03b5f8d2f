import math

import pytest

from mindcv.scheduler import create_scheduler


def test_constant_with_warmup():
    rates = create_scheduler(10, "constant", lr=0.1, warmup_epochs=1, warmup_factor=0.1, num_epochs=3)
    assert len(rates) == 30
    assert rates[0] == pytest.approx(0.01) and rates[5] == pytest.approx(0.055)
    assert rates[10:] == [pytest.approx(0.1)] * 20


def test_warmup_cosine_decay_values():
    rates = create_scheduler(4, "warmup_cosine_decay", lr=1.0, min_lr=0.0, warmup_epochs=1, num_epochs=5)
    assert rates[4] == pytest.approx(1.0)
    assert rates[4 + 8] == pytest.approx(0.5)  # half-way through the 4 decay epochs
    assert rates[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 16)))


def test_cosine_epoch_stair_holds_value_within_epoch():
    rates = create_scheduler(5, "cosine_decay", lr=1.0, min_lr=0.1, num_epochs=4, lr_epoch_stair=True)
    assert len(set(rates[5:10])) == 1 and rates[0] == pytest.approx(1.0)
    assert rates[10] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 2 / 4)))


def test_step_and_multi_step_decay():
    step = create_scheduler(2, "step_decay", lr=1.0, min_lr=0.0, decay_epochs=2, decay_rate=0.5, num_epochs=6)
    assert step[0] == 1.0 and step[4] == pytest.approx(0.5) and step[8] == pytest.approx(0.25)
    multi = create_scheduler(1, "multi_step_decay", lr=1.0, min_lr=0.0, milestones=[2, 4], decay_rate=0.1,
                             num_epochs=5)
    assert multi == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_unknown_scheduler_suggests():
    with pytest.raises(ValueError, match="Did you mean: cosine_decay"):
        create_scheduler(1, "cosine_decy")
