"""``create_scheduler``: the learning rate of every training step, as a list the optimizer indexes by step.

The schedules are MindCV's: a linear warmup followed by the main schedule, which counts its epochs from the end
of the warmup; both are made of the :mod:`mindcv.scheduler.dynamic_lr` functions.
"""
import logging
from typing import List, Optional, Sequence

from ..utils.errors import ConfigError
from ..utils.suggest import did_you_mean
from . import dynamic_lr

__all__ = ["create_scheduler", "SCHEDULERS"]

_logger = logging.getLogger(__name__)

SCHEDULERS = ("constant", "cosine_decay", "warmup_cosine_decay", "exponential_decay", "polynomial_decay",
              "step_decay", "multi_step_decay", "one_cycle", "cyclic")


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

    total = num_epochs * steps_per_epoch
    warmup_steps = min(total, int(round(warmup_epochs * steps_per_epoch)))
    rates = []
    if warmup_steps:
        warmup = dynamic_lr.linear_lr if lr_epoch_stair else dynamic_lr.linear_refined_lr
        rates = warmup(warmup_factor, 1.0, warmup_epochs, lr=lr, steps_per_epoch=steps_per_epoch,
                       epochs=warmup_steps / steps_per_epoch)
    main = dict(steps_per_epoch=steps_per_epoch, epochs=(total - warmup_steps) / steps_per_epoch)
    main_epochs = main["epochs"]
    if name in ("cosine_decay", "warmup_cosine_decay"):
        cosine = dynamic_lr.cosine_decay_lr if lr_epoch_stair else dynamic_lr.cosine_decay_refined_lr
        rates += cosine(int(decay_epochs), min_lr, eta_max=lr, num_cycles=num_cycles, cycle_decay=cycle_decay, **main)
    elif name == "one_cycle":
        rates += dynamic_lr.one_cycle_lr(lr, final_div_factor=lr / 25.0 / min_lr, **main)
    elif name == "cyclic":
        half = int(total / num_cycles / 2)
        if half < 1:
            raise ConfigError(f"cyclic needs at least 2 steps per cycle; {total} steps for {num_cycles} cycles.")
        rates += dynamic_lr.cyclic_lr(min_lr, lr, half, **main)
    elif name == "exponential_decay":
        exponential = dynamic_lr.exponential_lr if lr_epoch_stair else dynamic_lr.exponential_refined_lr
        rates += exponential(decay_rate, lr=lr, **main)
    elif name == "polynomial_decay":
        polynomial = dynamic_lr.polynomial_lr if lr_epoch_stair else dynamic_lr.polynomial_refined_lr
        rates += polynomial(main_epochs, decay_rate, lr=lr, **main)
    elif name == "step_decay":
        rates += dynamic_lr.step_lr(decay_epochs, decay_rate, lr=lr, **main)
    elif name == "multi_step_decay":
        rates += dynamic_lr.multi_step_lr(milestones or [], decay_rate, lr=lr, **main)
    else:
        rates += dynamic_lr.constant_lr(1.0, 0, lr=lr, **main)
    return rates
