"""One training step as a compiled cell: loss scaling, overflow handling, clipping, accumulation, EMA."""
from typing import Optional, Union

import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

__all__ = ["TrainStep", "create_loss_scale"]


def create_loss_scale(loss_scale_type: str, loss_scale: float, drop_overflow_update: bool,
                      amp_level: str) -> Union[Tensor, nn.Cell]:
    """The ``scale_sense`` of :class:`TrainStep`.

    ``fixed``: a constant (an update cell that only reports overflow when ``drop_overflow_update``);
    ``dynamic``: halves on overflow, doubles after 2000 good steps; ``auto``: dynamic under mixed
    precision, fixed 1.0 in fp32.
    """
    kind = loss_scale_type.lower()
    if kind == "auto":
        kind, loss_scale = ("fixed", 1.0) if amp_level == "O0" else ("dynamic", max(loss_scale, 2.0 ** 16))
    if kind == "dynamic":
        return nn.DynamicLossScaleUpdateCell(loss_scale_value=loss_scale, scale_factor=2, scale_window=2000)
    if kind != "fixed":
        raise ValueError(f"loss_scale_type must be fixed, dynamic or auto, got '{loss_scale_type}'.")
    if drop_overflow_update:
        return nn.FixedLossScaleUpdateCell(loss_scale_value=loss_scale)
    return Tensor(loss_scale, ms.float32)


class TrainStep(nn.TrainOneStepCell):
    """Forward, backward and update for ``network`` (which returns the loss).

    Gradients are computed on the loss times the scale, unscaled, all-reduced in data-parallel runs,
    optionally clipped by global norm, and applied unless they are non-finite and the scale is an update
    cell (dynamic scaling, or fixed with ``drop_overflow_update``); a dynamic cell also adjusts the scale.
    With ``accumulate_steps > 1`` gradients are summed and applied (averaged) every that many steps.
    With ``ema`` an exponential moving average of every model parameter (BN statistics included) is kept
    in ``ema.*`` parameters, updated after each applied step.

    Returns ``(loss, overflow, scale)``.
    """

    def __init__(self, network: nn.Cell, optimizer: nn.Optimizer, scale_sense: Union[Tensor, nn.Cell],
                 model: Optional[nn.Cell] = None, clip_grad: bool = False, clip_value: float = 15.0,
                 accumulate_steps: int = 1, ema: bool = False, ema_decay: float = 0.9999):
        super().__init__(network, optimizer, sens=None)
        self.scale_update = scale_sense if isinstance(scale_sense, nn.Cell) else None
        initial = scale_sense.get_loss_scale() if self.scale_update is not None else scale_sense
        self.scale_sense = Parameter(Tensor(initial, ms.float32), name="scale_sense", requires_grad=False)
        self.clip_grad = clip_grad
        self.clip_value = clip_value
        self.accumulate_steps = accumulate_steps
        if accumulate_steps > 1:
            self.accum_grads = self.weights.clone(prefix="accum_grads", init="zeros")
            self.accum_count = Parameter(Tensor(0, ms.int32), name="accum_count", requires_grad=False)
        self.ema = ema
        if ema:
            if model is None:
                raise ValueError("ema=True needs the model whose parameters to average.")
            self.model_params = ParameterTuple(list(model.get_parameters()))
            self.ema_params = self.model_params.clone(prefix="ema", init="same")
            self.ema_decay = ema_decay
            self.ema_updates = Parameter(Tensor(0.0, ms.float32), name="ema_num_updates", requires_grad=False)

    def _update_ema(self) -> Tensor:
        updates = self.ema_updates + 1.0
        decay = ops.minimum(self.ema_decay, (1.0 + updates) / (10.0 + updates))
        for ema_param, param in zip(self.ema_params, self.model_params):
            ops.assign(ema_param, ema_param * decay + param.astype(ema_param.dtype) * (1.0 - decay))
        return ops.assign(self.ema_updates, updates)

    def _apply(self, grads) -> Tensor:
        if self.clip_grad:
            grads = ops.clip_by_global_norm(grads, self.clip_value)
        applied = self.optimizer(grads)
        if self.ema:
            applied = ops.depend(applied, self._update_ema())
        return applied

    def construct(self, *inputs):
        loss = self.network(*inputs)
        scale = self.scale_sense * 1.0
        sens = ops.ones_like(loss) * scale.astype(loss.dtype)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = tuple([g / scale.astype(g.dtype) for g in grads])
        grads = self.grad_reducer(grads)
        overflow = Tensor(False)
        if self.scale_update is not None:
            finite = ops.stack([ops.isfinite(g).all() for g in grads]).all()
            overflow = self.scale_update(self.scale_sense, ops.logical_not(finite))
            if overflow:
                return loss, overflow, scale
        if self.accumulate_steps > 1:
            for accum, grad in zip(self.accum_grads, grads):
                ops.assign_add(accum, grad)
            count = ops.assign_add(self.accum_count, Tensor(1, ms.int32))
            if count % self.accumulate_steps == 0:
                mean_grads = tuple([accum / self.accumulate_steps for accum in self.accum_grads])
                loss = ops.depend(loss, self._apply(mean_grads))
                for accum in self.accum_grads:
                    ops.assign(accum, ops.zeros_like(accum))
            return loss, overflow, scale
        loss = ops.depend(loss, self._apply(grads))
        return loss, overflow, scale
