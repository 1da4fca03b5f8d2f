"""One training step as a compiled cell, with MindCV's loss scaling, clipping, accumulation and EMA.

The step also keeps running statistics on the device (loss sum, finite and non-finite counts, the current
run of non-finite losses, skipped updates), so the training loop reads them every ``log_interval`` steps
instead of synchronising with the device after every step.
"""
from typing import Optional, Union

import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

from ..utils.checkpoint import EMA_PREFIX
from ..utils.errors import ConfigError

__all__ = ["TrainStep", "create_loss_scale", "LossScale", "require_customized_train_step"]

_unscale = ops.MultitypeFuncGraph("unscale")


_all_finite = ops.MultitypeFuncGraph("all_finite")
_accumulate = ops.MultitypeFuncGraph("accumulate")
_clear = ops.MultitypeFuncGraph("clear")
_ema_update = ops.MultitypeFuncGraph("ema_update")
# Per-parameter work goes through HyperMap: a Python loop over ~240 gradients unrolled in the graph took
# a 240-parameter model's step 16 s longer to compile.


@_unscale.register("Tensor", "Tensor")
def _unscale_tensor(scale: Tensor, grad: Tensor) -> Tensor:
    """``grad`` times the reciprocal of ``scale`` in the gradient's dtype, as MindCV's step does."""
    return grad * ops.cast(ops.reciprocal(scale), ops.dtype(grad))


@_all_finite.register("Tensor")
def _all_finite_tensor(grad: Tensor) -> Tensor:
    return ops.isfinite(grad).all()


@_accumulate.register("Number", "Tensor", "Tensor")
def _accumulate_tensor(steps: int, accum: Tensor, grad: Tensor) -> Tensor:
    return ops.assign_add(accum, grad / steps)


@_clear.register("Tensor")
def _clear_tensor(accum: Tensor) -> Tensor:
    return ops.assign(accum, ops.zeros_like(accum))


@_ema_update.register("Tensor", "Tensor", "Tensor")
def _ema_update_tensor(decay: Tensor, ema_param: Tensor, param: Tensor) -> Tensor:
    return ops.assign(ema_param, ema_param * decay + ops.cast(param, ops.dtype(ema_param)) * (1.0 - decay))


def require_customized_train_step(ema: bool = False, clip_grad: bool = False, gradient_accumulation_steps: int = 1,
                                  amp_cast_list: Optional[str] = None) -> bool:
    """True when the options need :class:`TrainStep` rather than MindSpore's own training cell (MindCV's rule;
    ``create_trainer`` and ``train.py``'s builder both ask it)."""
    return bool(ema or clip_grad or gradient_accumulation_steps > 1 or amp_cast_list)


class LossScale:
    """How the gradients are scaled: ``sense`` (a fixed scale or an update cell), and whether the optimizer
    divides the scale out (``optimizer_scale``; the step then does not unscale)."""

    def __init__(self, sense: Union[float, nn.Cell], optimizer_scale: float):
        self.sense = sense
        self.optimizer_scale = optimizer_scale

    @property
    def unscale_in_step(self) -> bool:
        """The step divides the scale out, unless the optimizer does or the scale is a constant 1."""
        constant_one = not isinstance(self.sense, nn.Cell) and self.sense == 1.0
        return self.optimizer_scale == 1.0 and not constant_one


def create_loss_scale(loss_scale_type: str, loss_scale: float, drop_overflow_update: bool, amp_level: str,
                      custom_step: bool) -> LossScale:
    """MindCV's loss scaling for its options.

    ``fixed``: a constant; without ``drop_overflow_update`` and without EMA, clipping or accumulation
    (``custom_step``), MindCV hands it to the optimizer, which divides it out of the gradients; otherwise the
    step unscales the gradients and, with ``drop_overflow_update``, skips overflowing updates.
    ``dynamic``: halves on overflow (skipping the update), doubles after 2000 good steps. ``auto``: MindSpore's
    default for ``amp_level`` (dynamic from 2^24 for O2, none otherwise).
    """
    kind = loss_scale_type.lower()
    if loss_scale < 1.0:
        raise ConfigError(f"loss_scale must be >= 1, got {loss_scale}.")
    if kind == "auto":
        if amp_level == "O2":
            return LossScale(nn.DynamicLossScaleUpdateCell(loss_scale_value=2.0 ** 24, scale_factor=2,
                                                           scale_window=2000), 1.0)
        return LossScale(1.0, 1.0)
    if kind == "dynamic":
        return LossScale(nn.DynamicLossScaleUpdateCell(loss_scale_value=loss_scale, scale_factor=2,
                                                       scale_window=2000), 1.0)
    if kind != "fixed":
        raise ConfigError(f"loss_scale_type must be fixed, dynamic or auto, got '{loss_scale_type}'.")
    if drop_overflow_update:
        return LossScale(nn.FixedLossScaleUpdateCell(loss_scale_value=loss_scale), 1.0)
    return LossScale(loss_scale, 1.0 if custom_step else loss_scale)


def _as_loss_scale(scale_sense: Union[LossScale, float, Tensor, nn.Cell]) -> LossScale:
    """MindCV's ``scale_sense`` (a number, a Tensor or a loss-scale update cell) as a :class:`LossScale` whose
    scale the step divides out."""
    if isinstance(scale_sense, LossScale):
        return scale_sense
    if isinstance(scale_sense, Tensor):
        scale_sense = float(scale_sense.asnumpy())
    return LossScale(scale_sense, 1.0)


class TrainStep(nn.TrainOneStepCell):
    """Forward, backward and update for ``network`` (which returns the loss); MindCV's signature and result (the
    loss).

    The backward pass runs on the loss times the scale (``scale_sense``: a number, or a loss-scale update cell such
    as ``nn.DynamicLossScaleUpdateCell``, or a :class:`LossScale`); the gradients are unscaled (unless the
    optimizer does it), clipped to global norm ``clip_value`` (before the data-parallel reduction, as in MindCV),
    reduced, checked for overflow when the scale is an update cell (an overflowing update is skipped and the scale
    adjusted), and applied. With ``gradient_accumulation_steps`` N > 1, N gradients divided by N are summed and
    applied together. With ``ema`` the exponential moving average of the parameters of ``model`` (default: of
    ``network``, as MindCV) follows every step as ``ema.*`` with decay ``ema_decay * (1 - exp(-updates / 2000))``.
    ``rng_step`` (the dropout counter) is advanced after each step.
    """

    def __init__(self, network: nn.Cell, optimizer: nn.Optimizer,
                 scale_sense: Union[LossScale, float, Tensor, nn.Cell] = 1.0, ema: bool = False,
                 ema_decay: float = 0.9999, clip_grad: bool = False, clip_value: float = 15.0,
                 gradient_accumulation_steps: int = 1, *, model: Optional[nn.Cell] = None,
                 rng_step: Optional[Parameter] = None):
        super().__init__(network, optimizer, sens=None)
        loss_scale = _as_loss_scale(scale_sense)
        sense = loss_scale.sense
        self.scale_update = sense if isinstance(sense, nn.Cell) else None
        initial = sense.get_loss_scale() if self.scale_update is not None else sense
        self.scale_sense = Parameter(Tensor(initial, ms.float32), name="scale_sense", requires_grad=False)
        self.unscale = loss_scale.unscale_in_step
        self.hyper_map = ops.HyperMap()
        self.clip_grad = clip_grad
        self.clip_value = clip_value
        if gradient_accumulation_steps < 1:
            raise ConfigError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}.")
        self.accumulate_steps = gradient_accumulation_steps
        if gradient_accumulation_steps > 1:
            self.accum_grads = self.weights.clone(prefix="accum_grads", init="zeros")
            self.accum_count = Parameter(Tensor(0, ms.int32), name="accum_count", requires_grad=False)
        self.ema = ema
        if ema:
            self.model_params = ParameterTuple(list((model or network).get_parameters()))
            self.ema_params = self.model_params.clone(prefix=EMA_PREFIX.rstrip("."), init="same")
            self.ema_decay = ema_decay
            self.ema_updates = Parameter(Tensor(0.0, ms.float32), name="ema_num_updates", requires_grad=False)
        self.rng_step = rng_step
        self.stat_loss_sum = Parameter(Tensor(0.0, ms.float32), name="stat_loss_sum", requires_grad=False)
        self.stat_finite = Parameter(Tensor(0.0, ms.float32), name="stat_finite", requires_grad=False)
        self.stat_nonfinite = Parameter(Tensor(0.0, ms.float32), name="stat_nonfinite", requires_grad=False)
        self.stat_nonfinite_run = Parameter(Tensor(0.0, ms.float32), name="stat_nonfinite_run", requires_grad=False)
        self.stat_skipped = Parameter(Tensor(0.0, ms.float32), name="stat_skipped", requires_grad=False)

    def _update_ema(self) -> Tensor:
        updates = self.ema_updates + 1.0
        decay = self.ema_decay * (1.0 - ops.exp(-updates / 2000.0))
        updated = self.hyper_map(ops.partial(_ema_update, decay), self.ema_params, self.model_params)
        return ops.depend(ops.assign(self.ema_updates, updates), updated)

    def _accumulate(self, loss: Tensor, grads) -> Tensor:
        """Add ``grads / N``; every N-th call apply the reduced sum and clear it, otherwise only read the lr
        (which advances the step counter of the optimizers that count in ``get_lr``, as in MindCV)."""
        loss = ops.depend(loss, self.hyper_map(ops.partial(_accumulate, self.accumulate_steps), self.accum_grads,
                                               grads))
        count = self.accum_count + 1
        if count >= self.accumulate_steps:
            loss = ops.depend(loss, self.optimizer(self.grad_reducer(self.accum_grads)))
            loss = ops.depend(loss, self.hyper_map(_clear, self.accum_grads))
            count = count * 0
        else:
            loss = ops.depend(loss, self.optimizer.get_lr())
        return ops.depend(loss, ops.assign(self.accum_count, count))

    def _apply(self, loss: Tensor, grads) -> Tensor:
        if self.accumulate_steps > 1:
            loss = self._accumulate(loss, grads)
        else:
            loss = ops.depend(loss, self.optimizer(grads))
        if self.ema:
            loss = ops.depend(loss, self._update_ema())
        return loss

    def _record(self, loss: Tensor, skipped: Tensor) -> Tensor:
        finite = ops.isfinite(loss).astype(ms.float32)
        value = ops.select(finite > 0, loss.astype(ms.float32), ops.zeros_like(loss).astype(ms.float32))
        loss = ops.depend(loss, ops.assign_add(self.stat_loss_sum, value))
        loss = ops.depend(loss, ops.assign_add(self.stat_finite, finite))
        loss = ops.depend(loss, ops.assign_add(self.stat_nonfinite, 1.0 - finite))
        loss = ops.depend(loss, ops.assign(self.stat_nonfinite_run, (self.stat_nonfinite_run + 1.0) * (1.0 - finite)))
        loss = ops.depend(loss, ops.assign_add(self.stat_skipped, skipped.astype(ms.float32)))
        if self.rng_step is not None:
            loss = ops.depend(loss, ops.assign_add(self.rng_step, ops.ones_like(self.rng_step)))
        return loss

    def construct(self, *inputs):
        loss = self.network(*inputs)
        scale = self.scale_sense * 1.0
        sens = ops.ones_like(loss) * scale.astype(loss.dtype)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        if self.unscale:
            grads = self.hyper_map(ops.partial(_unscale, scale), grads)
        if self.clip_grad:
            grads = ops.clip_by_global_norm(grads, self.clip_value)
        if self.accumulate_steps == 1:  # accumulation reduces the summed gradients when it applies them
            grads = self.grad_reducer(grads)
        overflow = Tensor(False)
        if self.scale_update is not None:
            finite = ops.stack(self.hyper_map(_all_finite, grads)).all()
            overflow = self.scale_update(self.scale_sense, ops.logical_not(finite))
            if not overflow:
                loss = self._apply(loss, grads)
        else:
            loss = self._apply(loss, grads)
        return self._record(loss, overflow)
