"""``create_scheduler``: the learning rate of every training step, as a list the optimizer indexes by step.

The schedules are MindCV's (its ``scheduler/dynamic_lr.py``): a linear warmup followed by the main schedule,
which counts its epochs from the end of the warmup.
"""
import bisect
import logging
import math
from typing import Callable, List, Optional, Sequence

from ..utils.errors import ConfigError
from ..utils.suggest import did_you_mean

__all__ = ["create_scheduler", "SCHEDULERS"]

_logger = logging.getLogger(__name__)

SCHEDULERS = ("constant", "cosine_decay", "warmup_cosine_decay", "exponential_decay", "polynomial_decay",
              "step_decay", "multi_step_decay", "one_cycle", "cyclic")


def _cosine_cycles(steps: int, steps_per_epoch: int, epoch_of: Callable[[int], float], lr: float, min_lr: float,
                   decay_epochs: int, num_cycles: int, cycle_decay: float) -> List[float]:
    """``num_cycles`` cosine decays of ``decay_epochs`` each (peak times ``cycle_decay`` per cycle), then min_lr."""
    rates: List[float] = []
    for cycle in range(num_cycles):
        peak = lr * cycle_decay ** cycle
        for step in range(steps_per_epoch * decay_epochs):
            if len(rates) == steps:
                return rates
            progress = min(epoch_of(step), decay_epochs) / decay_epochs
            rates.append(min_lr + 0.5 * (peak - min_lr) * (1.0 + math.cos(math.pi * progress)))
    return rates + [min_lr] * (steps - len(rates))


def _one_cycle(steps: int, lr: float, min_lr: float) -> List[float]:
    """Cosine rise from lr/25 to lr over 30% of the steps, then cosine fall to ``min_lr``."""
    start = lr / 25.0
    up, end = 0.3 * steps - 1, steps - 1.0

    def anneal(a: float, b: float, fraction: float) -> float:
        return b + (a - b) / 2.0 * (math.cos(math.pi * fraction) + 1)

    return [anneal(start, lr, i / up) if i <= up else anneal(lr, min_lr, (i - up) / (end - up)) for i in range(steps)]


def _cyclic(steps: int, lr: float, min_lr: float, num_cycles: int) -> List[float]:
    """Triangular cycles between ``min_lr`` and ``lr``: ``num_cycles`` over the steps."""
    half = float(int(steps / num_cycles / 2))
    if half < 1:
        raise ConfigError(f"cyclic needs at least 2 steps per cycle; {steps} steps for {num_cycles} cycles.")
    rates = []
    for i in range(steps):
        position = 1.0 + i / (2 * half) - math.floor(1 + i / (2 * half))
        height = position / 0.5 if position <= 0.5 else (position - 1) / (0.5 - 1)
        rates.append(min_lr + (lr - min_lr) * height)
    return rates


def create_scheduler(steps_per_epoch: int, scheduler: str = "constant", lr: float = 0.01, min_lr: float = 1e-6,
                     warmup_epochs: float = 3, warmup_factor: float = 0.0, decay_epochs: int = 10,
                     decay_rate: float = 0.9, milestones: Optional[Sequence[int]] = None, num_epochs: int = 200,
                     num_cycles: int = 1, cycle_decay: float = 1.0, lr_epoch_stair: bool = False) -> List[float]:
    """Per-step learning rates for ``num_epochs * steps_per_epoch`` steps (MindCV's signature and defaults).

    Warmup rises linearly from ``lr * warmup_factor`` to ``lr`` over ``warmup_epochs`` (a fraction is allowed
    here). The main schedule then counts epochs from the end of the warmup:
    ``cosine_decay``/``warmup_cosine_decay``: ``num_cycles`` cosine decays of ``decay_epochs`` from
    ``lr * cycle_decay**cycle`` to ``min_lr``, then ``min_lr``; ``exponential_decay``: ``lr * decay_rate**epoch``;
    ``polynomial_decay``: ``lr * (1 - epoch / main_epochs) ** decay_rate``; ``step_decay``: times ``decay_rate``
    every ``decay_epochs``; ``multi_step_decay``: times ``decay_rate`` at each of ``milestones``;
    ``one_cycle`` and ``cyclic`` (no warmup, per step): 1cycle from lr/25 to ``lr`` to ``min_lr``, and
    triangular cycles between ``min_lr`` and ``lr``. ``lr_epoch_stair`` holds each epoch's value for its steps
    (step and multi-step decay always do).
    """
    name = scheduler.lower()
    if name not in SCHEDULERS:
        raise ConfigError(f"Unknown scheduler '{scheduler}'.{did_you_mean(name, SCHEDULERS)} "
                          f"Valid: {', '.join(SCHEDULERS)}.")
    if steps_per_epoch < 1 or num_epochs < 1:
        raise ConfigError(f"steps_per_epoch and num_epochs must be >= 1, got {steps_per_epoch}, {num_epochs}.")
    if name in ("one_cycle", "cyclic") and (lr_epoch_stair or warmup_epochs > 0):
        raise ConfigError(f"{name} works per step and without warmup: set lr_epoch_stair False and warmup_epochs 0.")
    if name in ("cosine_decay", "warmup_cosine_decay", "step_decay") and decay_epochs < 1:
        raise ConfigError(f"{name} needs decay_epochs >= 1, got {decay_epochs}.")
    if warmup_epochs + decay_epochs > num_epochs and name in ("cosine_decay", "warmup_cosine_decay"):
        _logger.warning("warmup_epochs + decay_epochs (%s + %s) > num_epochs (%s): the cosine decay will not reach "
                        "min_lr; reduce decay_epochs.", warmup_epochs, decay_epochs, num_epochs)

    def epoch_of(step: int) -> float:
        return step // steps_per_epoch if lr_epoch_stair else step / steps_per_epoch

    total = num_epochs * steps_per_epoch
    warmup_steps = min(total, int(round(warmup_epochs * steps_per_epoch)))
    rates = [lr * (warmup_factor + (1.0 - warmup_factor) * min(epoch_of(i), warmup_epochs) / warmup_epochs)
             for i in range(warmup_steps)]
    steps = total - warmup_steps
    main_epochs = steps / steps_per_epoch
    if name in ("cosine_decay", "warmup_cosine_decay"):
        rates += _cosine_cycles(steps, steps_per_epoch, epoch_of, lr, min_lr, int(decay_epochs), num_cycles,
                                cycle_decay)
    elif name == "one_cycle":
        rates += _one_cycle(steps, lr, min_lr)
    elif name == "cyclic":
        rates += _cyclic(steps, lr, min_lr, num_cycles)
    elif name == "exponential_decay":
        rates += [lr * decay_rate ** epoch_of(i) for i in range(steps)]
    elif name == "polynomial_decay":
        rates += [lr * (1 - min(epoch_of(i), main_epochs) / main_epochs) ** decay_rate for i in range(steps)]
    elif name == "step_decay":
        rates += [lr * decay_rate ** math.floor((i // steps_per_epoch) / decay_epochs) for i in range(steps)]
    elif name == "multi_step_decay":
        points = sorted(milestones or [])
        rates += [lr * decay_rate ** bisect.bisect_right(points, i // steps_per_epoch) for i in range(steps)]
    else:
        rates += [lr] * steps
    return rates
