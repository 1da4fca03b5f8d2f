"""Adan (Xie et al., 2022) with MindCV's update rule."""
from mindspore import jit, Tensor, ops

from .stepping import SteppingOptimizer

__all__ = ["Adan"]


class Adan(SteppingOptimizer):
    """``m = (1-b1) m + b1 g``, ``v = (1-b2) v + b2 (g - g_prev)``, ``n = (1-b3) n + b3 (g + (1-b2)(g - g_prev))^2``;
    ``p = (p - lr / (eps + sqrt(n)) (m + (1-b2) v)) / (1 + wd lr / (eps + sqrt(n)))``; ``g_prev`` starts at the first
    gradient. Gradients are divided by ``loss_scale``. Each parameter decays by its group's weight decay (MindCV's
    Adan ignores the groups and decays by the single ``weight_decay`` it was given)."""

    def __init__(self, params, learning_rate=1e-3, beta1: float = 0.98, beta2: float = 0.92, beta3: float = 0.99,
                 eps: float = 1e-8, weight_decay=0.0, loss_scale: float = 1.0):
        super().__init__(learning_rate, params, weight_decay=weight_decay, loss_scale=loss_scale)
        self.beta1 = self.scalar(beta1)
        self.beta2 = self.scalar(beta2)
        self.beta3 = self.scalar(beta3)
        self.eps = self.scalar(eps)
        self.moment1 = self.parameters.clone(prefix="moment1", init="zeros")
        self.moment2 = self.parameters.clone(prefix="moment2", init="zeros")
        self.moment3 = self.parameters.clone(prefix="moment3", init="zeros")
        self.prev_gradient = self.parameters.clone(prefix="prev_gradient", init="zeros")

    @jit
    def construct(self, gradients):
        gradients = self.scale_grad(self.flatten_gradients(gradients))
        lr = self.get_lr()
        count = len(self.parameters)
        lrs = self.per_parameter(lr, count)
        decays = self.per_parameter(self.weight_decay, count)
        for i in range(count):
            param, grad = self.parameters[i], gradients[i]
            previous = ops.select(ops.reduce_sum(self.prev_gradient[i]) == 0.0, grad, self.prev_gradient[i])
            change = grad - previous
            m = (1.0 - self.beta1) * self.moment1[i] + self.beta1 * grad
            v = (1.0 - self.beta2) * self.moment2[i] + self.beta2 * change
            n = (1.0 - self.beta3) * self.moment3[i] + self.beta3 * ops.square(grad + (1.0 - self.beta2) * change)
            step = lrs[i] / (self.eps + ops.sqrt(n))
            decay = decays[i] * self.reciprocal_scale if self.decay_flags[i] else 0.0  # stored times the scale
            ops.assign(param, (param - step * (m + (1.0 - self.beta2) * v)) / (1.0 + decay * step))
            ops.assign(self.moment1[i], m)
            ops.assign(self.moment2[i], v)
            ops.assign(self.moment3[i], n)
            ops.assign(self.prev_gradient[i], grad)
        return Tensor(True)
