"""``create_scheduler``: the learning rate of every training step, as a list the optimizer indexes by step."""
import math
from typing import List, Sequence

from ..utils.suggest import did_you_mean

__all__ = ["create_scheduler", "SCHEDULERS"]

SCHEDULERS = ("constant", "cosine_decay", "warmup_cosine_decay", "step_decay", "multi_step_decay")


def _decayed(name: str, lr: float, min_lr: float, epoch: float, decay_epochs: float, decay_rate: float,
             milestones: Sequence[int]) -> float:
    if name == "constant":
        return lr
    if name in ("cosine_decay", "warmup_cosine_decay"):
        progress = min(max(epoch / decay_epochs, 0.0), 1.0) if decay_epochs > 0 else 1.0
        return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    if name == "step_decay":
        return max(lr * decay_rate ** math.floor(epoch / decay_epochs), min_lr)
    return max(lr * decay_rate ** sum(1 for m in milestones if epoch >= m), min_lr)


def create_scheduler(steps_per_epoch: int, scheduler: str = "constant", lr: float = 0.01, min_lr: float = 1e-6,
                     warmup_epochs: float = 0, warmup_factor: float = 0.0, decay_epochs: float = 0,
                     decay_rate: float = 0.1, milestones: Sequence[int] = (30, 60, 90), num_epochs: int = 1,
                     lr_epoch_stair: bool = False) -> List[float]:
    """Per-step learning rates for ``num_epochs * steps_per_epoch`` steps.

    Warmup rises linearly from ``lr * warmup_factor`` to ``lr`` over ``warmup_epochs``. Then cosine decay
    runs over ``decay_epochs`` (0: the remaining epochs) down to ``min_lr``; step decay multiplies by
    ``decay_rate`` every ``decay_epochs`` epochs; multi-step decay at each epoch in ``milestones``.
    ``lr_epoch_stair`` holds each epoch's value for all of its steps. Step ``s`` uses the value at index ``s``.
    """
    name = scheduler.lower()
    if name not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler '{scheduler}'.{did_you_mean(name, SCHEDULERS)} "
                         f"Valid: {', '.join(SCHEDULERS)}.")
    if steps_per_epoch < 1 or num_epochs < 1:
        raise ValueError(f"steps_per_epoch and num_epochs must be >= 1, got {steps_per_epoch}, {num_epochs}.")
    if name == "step_decay" and decay_epochs <= 0:
        raise ValueError("step_decay needs decay_epochs > 0.")
    decay_span = decay_epochs if decay_epochs > 0 else max(num_epochs - warmup_epochs, 0)
    rates = []
    for step in range(num_epochs * steps_per_epoch):
        epoch = step // steps_per_epoch if lr_epoch_stair else step / steps_per_epoch
        if epoch < warmup_epochs:
            rates.append(lr * (warmup_factor + (1.0 - warmup_factor) * epoch / warmup_epochs))
        else:
            since = epoch - warmup_epochs if "cosine" in name else epoch
            rates.append(_decayed(name, lr, min_lr, since, decay_span, decay_rate, milestones))
    return rates
