"""Per-step learning-rate lists, MindCV's ``dynamic_lr`` functions (PyTorch's ``lr_scheduler`` rules).

Positional arguments are those of the PyTorch scheduler of the same name; the keywords ``lr`` (or ``eta_max``),
``steps_per_epoch`` and ``epochs`` say what to start from and how many steps to return. The plain functions hold
each epoch's value for all its steps, the ``_refined`` ones move at every step (the epoch counted as
``step / steps_per_epoch``). ``epochs`` may be fractional here: ``round(steps_per_epoch * epochs)`` values.
"""
import math
from bisect import bisect_right
from typing import Callable, List, Optional, Sequence

__all__ = ["constant_lr", "linear_lr", "linear_refined_lr", "polynomial_lr", "polynomial_refined_lr",
           "exponential_lr", "exponential_refined_lr", "step_lr", "multi_step_lr", "cosine_decay_lr",
           "cosine_decay_refined_lr", "cosine_annealing_lr", "cosine_annealing_warm_restarts_lr", "one_cycle_lr",
           "cyclic_lr"]


def _num_steps(steps_per_epoch: int, epochs: float) -> int:
    return int(round(steps_per_epoch * epochs))


def _epochs(steps_per_epoch: int, epochs: float, refined: bool) -> List[float]:
    """The epoch position of every step: whole epochs, or fractional ones when ``refined``."""
    return [i / steps_per_epoch if refined else float(i // steps_per_epoch)
            for i in range(_num_steps(steps_per_epoch, epochs))]


def constant_lr(factor: float, total_iters: int, *, lr: float, steps_per_epoch: int, epochs: float) -> List[float]:
    """``lr * factor`` for the first ``total_iters`` epochs, then ``lr``."""
    return [lr * factor if epoch < total_iters else lr for epoch in _epochs(steps_per_epoch, epochs, False)]


def _linear(start_factor, end_factor, total_iters, lr, steps_per_epoch, epochs, refined) -> List[float]:
    start, end = lr * start_factor, lr * end_factor
    return [start + min(epoch, total_iters) / total_iters * (end - start)
            for epoch in _epochs(steps_per_epoch, epochs, refined)]


def linear_lr(start_factor: float, end_factor: float, total_iters: float, *, lr: float, steps_per_epoch: int,
              epochs: float) -> List[float]:
    """From ``lr * start_factor`` to ``lr * end_factor`` in ``total_iters`` epochs, then constant."""
    return _linear(start_factor, end_factor, total_iters, lr, steps_per_epoch, epochs, False)


def linear_refined_lr(start_factor: float, end_factor: float, total_iters: float, *, lr: float, steps_per_epoch: int,
                      epochs: float) -> List[float]:
    return _linear(start_factor, end_factor, total_iters, lr, steps_per_epoch, epochs, True)


def _polynomial(total_iters, power, lr, steps_per_epoch, epochs, refined) -> List[float]:
    return [lr * (1 - min(epoch, total_iters) / total_iters) ** power
            for epoch in _epochs(steps_per_epoch, epochs, refined)]


def polynomial_lr(total_iters: float, power: float, *, lr: float, steps_per_epoch: int,
                  epochs: float) -> List[float]:
    """``lr * (1 - epoch / total_iters) ** power``, 0 after ``total_iters`` epochs."""
    return _polynomial(total_iters, power, lr, steps_per_epoch, epochs, False)


def polynomial_refined_lr(total_iters: float, power: float, *, lr: float, steps_per_epoch: int,
                          epochs: float) -> List[float]:
    return _polynomial(total_iters, power, lr, steps_per_epoch, epochs, True)


def _exponential(gamma, lr, steps_per_epoch, epochs, refined) -> List[float]:
    return [lr * gamma ** epoch for epoch in _epochs(steps_per_epoch, epochs, refined)]


def exponential_lr(gamma: float, *, lr: float, steps_per_epoch: int, epochs: float) -> List[float]:
    """``lr * gamma ** epoch``."""
    return _exponential(gamma, lr, steps_per_epoch, epochs, False)


def exponential_refined_lr(gamma: float, *, lr: float, steps_per_epoch: int, epochs: float) -> List[float]:
    return _exponential(gamma, lr, steps_per_epoch, epochs, True)


def step_lr(step_size: int, gamma: float, *, lr: float, steps_per_epoch: int, epochs: float) -> List[float]:
    """``lr`` times ``gamma`` every ``step_size`` epochs."""
    return [lr * gamma ** math.floor(epoch / step_size) for epoch in _epochs(steps_per_epoch, epochs, False)]


def multi_step_lr(milestones: Sequence[int], gamma: float, *, lr: float, steps_per_epoch: int,
                  epochs: float) -> List[float]:
    """``lr`` times ``gamma`` at each of the ``milestones`` (epochs)."""
    points = sorted(milestones)
    return [lr * gamma ** bisect_right(points, epoch) for epoch in _epochs(steps_per_epoch, epochs, False)]


def _cosine_decay(decay_epochs, eta_min, eta_max, steps_per_epoch, epochs, num_cycles, cycle_decay,
                  refined) -> List[float]:
    """``num_cycles`` cosine decays of ``decay_epochs`` from ``eta_max * cycle_decay**cycle`` to ``eta_min``,
    then ``eta_min``."""
    total = _num_steps(steps_per_epoch, epochs)
    cycle_epochs = _epochs(steps_per_epoch, decay_epochs, refined)
    rates: List[float] = []
    for cycle in range(num_cycles):
        peak = eta_max * cycle_decay ** cycle
        rates += [eta_min + 0.5 * (peak - eta_min) * (1.0 + math.cos(math.pi * min(epoch, decay_epochs)
                                                                     / decay_epochs)) for epoch in cycle_epochs]
    rates = rates[:total]
    return rates + [eta_min] * (total - len(rates))


def cosine_decay_lr(decay_epochs: int, eta_min: float, *, eta_max: float, steps_per_epoch: int, epochs: float,
                    num_cycles: int = 1, cycle_decay: float = 1.0) -> List[float]:
    return _cosine_decay(decay_epochs, eta_min, eta_max, steps_per_epoch, epochs, num_cycles, cycle_decay, False)


def cosine_decay_refined_lr(decay_epochs: int, eta_min: float, *, eta_max: float, steps_per_epoch: int,
                            epochs: float, num_cycles: int = 1, cycle_decay: float = 1.0) -> List[float]:
    return _cosine_decay(decay_epochs, eta_min, eta_max, steps_per_epoch, epochs, num_cycles, cycle_decay, True)


def cosine_annealing_lr(t_max: int, eta_min: float, *, eta_max: float, steps_per_epoch: int,
                        epochs: float) -> List[float]:
    """PyTorch's ``CosineAnnealingLR``: a cosine of period ``2 * t_max`` epochs between ``eta_max`` and
    ``eta_min``."""
    return [eta_min + 0.5 * (eta_max - eta_min) * (1.0 + math.cos(math.pi * epoch / t_max))
            for epoch in _epochs(steps_per_epoch, epochs, False)]


def cosine_annealing_warm_restarts_lr(te: int, tm: int, eta_min: float, *, eta_max: float, steps_per_epoch: int,
                                      epochs: int) -> List[float]:
    """PyTorch's ``CosineAnnealingWarmRestarts`` per step: decays over ``te`` epochs, restarting at ``eta_max``
    with each period ``tm`` times the last."""
    rates, phase, period, next_restart = [], 0.0, te, te
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            rates.append(eta_min + 0.5 * (eta_max - eta_min) * (1.0 + math.cos(phase)))
            phase += math.pi / period / steps_per_epoch
            if phase >= math.pi:
                phase -= math.pi
        if epoch + 1 == next_restart:
            phase, period = 0.0, period * tm
            next_restart += period
    return rates


def _anneal(strategy: str) -> Callable[[float, float, float], float]:
    if strategy == "cos":
        return lambda start, end, fraction: end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
    if strategy == "linear":
        return lambda start, end, fraction: (end - start) * fraction + start
    raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {strategy!r}.")


def one_cycle_lr(max_lr: float, pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 10000.0, three_phase: bool = False, *, steps_per_epoch: int,
                 epochs: float) -> List[float]:
    """1cycle (Smith, 2017): from ``max_lr / div_factor`` up to ``max_lr`` over ``pct_start`` of the steps,
    then down to ``max_lr / div_factor / final_div_factor`` (with ``three_phase``, first back to the start)."""
    anneal = _anneal(anneal_strategy)
    initial = max_lr / div_factor
    final = initial / final_div_factor
    steps = _num_steps(steps_per_epoch, epochs)
    up, down, end = pct_start * steps - 1, 2 * pct_start * steps - 2, steps - 1.0
    rates = []
    for i in range(steps):
        if i <= up:
            rates.append(anneal(initial, max_lr, i / up))
        elif three_phase and i <= down:
            rates.append(anneal(max_lr, initial, (i - up) / (down - up)))
        elif three_phase:
            rates.append(anneal(initial, final, (i - down) / (end - down)))
        else:
            rates.append(anneal(max_lr, final, (i - up) / (end - up)))
    return rates


def cyclic_lr(base_lr: float, max_lr: float, step_size_up: int = 2000, step_size_down: Optional[int] = None,
              mode: str = "triangular", gamma: float = 1.0, scale_fn: Optional[Callable[[float], float]] = None,
              scale_mode: str = "cycle", *, steps_per_epoch: int, epochs: float) -> List[float]:
    """Cyclical learning rates (Smith, 2017): up from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and
    down in ``step_size_down``; the amplitude scaled per cycle (``triangular2``: halved) or per step
    (``exp_range``: ``gamma ** step``), or by ``scale_fn``."""
    if scale_fn is None:
        scales = {"triangular": (lambda x: 1.0, "cycle"), "triangular2": (lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
                  "exp_range": (lambda x: gamma ** x, "iterations")}
        if mode not in scales:
            raise ValueError(f"mode must be triangular, triangular2 or exp_range, got {mode!r}.")
        scale_fn, scale_mode = scales[mode]
    up = float(step_size_up)
    total = up + (float(step_size_down) if step_size_down is not None else up)
    ratio = up / total
    rates = []
    for i in range(_num_steps(steps_per_epoch, epochs)):
        cycle = math.floor(1 + i / total)
        position = 1.0 + i / total - cycle
        height = (max_lr - base_lr) * (position / ratio if position <= ratio else (position - 1) / (ratio - 1))
        rates.append(base_lr + height * scale_fn(cycle if scale_mode == "cycle" else i))
    return rates
