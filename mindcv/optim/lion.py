"""Lion (Chen et al., 2023) with MindCV's semantics."""
from mindspore import jit, Tensor, ops

from .stepping import SteppingOptimizer

__all__ = ["Lion"]


class Lion(SteppingOptimizer):
    """``p -= lr (sign(b1 m + (1 - b1) g) + wd p)`` (``wd`` only for parameters that decay), then
    ``m = b2 m + (1 - b2) g``. Gradients are divided by ``loss_scale``."""

    def __init__(self, params, learning_rate=2e-4, beta1: float = 0.9, beta2: float = 0.99, weight_decay=0.0,
                 loss_scale: float = 1.0):
        super().__init__(learning_rate, params, weight_decay)
        self.beta1 = self.scalar(beta1)
        self.beta2 = self.scalar(beta2)
        self.inverse_scale = self.scalar(1.0 / loss_scale)
        self.moments1 = self.parameters.clone(prefix="lion_m", init="zeros")

    @jit
    def construct(self, gradients):
        lr = self.get_lr()
        count = len(self.parameters)
        lrs = self.per_parameter(lr, count)
        decays = self.per_parameter(self.weight_decay, count)
        for i in range(count):
            param, grad, moment = self.parameters[i], gradients[i] * self.inverse_scale, self.moments1[i]
            update = ops.sign(self.beta1 * moment + (1.0 - self.beta1) * grad)
            if self.decay_flags[i]:
                update = decays[i] * param + update
            ops.assign(param, param - ops.reshape(lrs[i] * update, param.shape))
            ops.assign(moment, self.beta2 * moment + (1.0 - self.beta2) * grad)
        return Tensor(True)
