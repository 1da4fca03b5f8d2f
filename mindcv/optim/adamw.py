"""AdamW with MindCV's semantics: bias-corrected moments, decoupled weight decay, ``eps`` outside the root."""
from mindspore import jit, Parameter, Tensor, ops
from mindspore.common.initializer import initializer

from .stepping import SteppingOptimizer

__all__ = ["AdamW"]


class AdamW(SteppingOptimizer):
    """``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``; ``p -= lr (m / (1 - b1^t) / (eps + sqrt(v / (1 -
    b2^t))) + wd p)`` with ``wd`` only for parameters that decay. Gradients are divided by ``loss_scale``."""

    def __init__(self, params, learning_rate=1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay=0.0, loss_scale: float = 1.0):
        super().__init__(learning_rate, params, weight_decay)
        self.beta1 = self.scalar(beta1)
        self.beta2 = self.scalar(beta2)
        self.eps = self.scalar(eps)
        self.inverse_scale = self.scalar(1.0 / loss_scale)
        self.moments1 = self.parameters.clone(prefix="adam_m", init="zeros")
        self.moments2 = self.parameters.clone(prefix="adam_v", init="zeros")
        self.beta1_power = Parameter(initializer(1, [1]), name="beta1_power")
        self.beta2_power = Parameter(initializer(1, [1]), name="beta2_power")

    @jit
    def construct(self, gradients):
        lr = self.get_lr()
        beta1_power = self.beta1_power * self.beta1
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.beta1_power, beta1_power)
        ops.assign(self.beta2_power, beta2_power)
        count = len(self.parameters)
        lrs = self.per_parameter(lr, count)
        decays = self.per_parameter(self.weight_decay, count)
        for i in range(count):
            param, grad = self.parameters[i], gradients[i] * self.inverse_scale
            m = self.beta1 * self.moments1[i] + (1.0 - self.beta1) * grad
            v = self.beta2 * self.moments2[i] + (1.0 - self.beta2) * ops.square(grad)
            update = (m / (1.0 - beta1_power)) / (self.eps + ops.sqrt(v / (1.0 - beta2_power)))
            if self.decay_flags[i]:
                update = decays[i] * param + update
            ops.assign(param, param - ops.reshape(lrs[i] * update, param.shape))
            ops.assign(self.moments1[i], m)
            ops.assign(self.moments2[i], v)
        return Tensor(True)
