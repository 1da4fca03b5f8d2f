"""NAdam (Dozat, 2016) with MindCV's semantics (momentum schedule ``schedule_decay``)."""
from mindspore import jit, Parameter, Tensor, ops
from mindspore.common.initializer import initializer

from .stepping import SteppingOptimizer

__all__ = ["NAdam"]


class NAdam(SteppingOptimizer):
    """Adam with Nesterov momentum: ``mu_t = b1 (1 - 0.5 * 0.96^(t * schedule_decay))``. Weight decay is added
    to the gradient; as in MindCV, a fixed loss scale is not divided out (unscale gradients before it)."""

    def __init__(self, params, learning_rate=2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay=0.0, loss_scale: float = 1.0, schedule_decay: float = 4e-3):
        super().__init__(learning_rate, params, weight_decay, loss_scale)
        self.beta1 = self.scalar(beta1)
        self.beta2 = self.scalar(beta2)
        self.eps = self.scalar(eps)
        self.schedule_decay = self.scalar(schedule_decay)
        self.moments1 = self.parameters.clone(prefix="nadam_m", init="zeros")
        self.moments2 = self.parameters.clone(prefix="nadam_v", init="zeros")
        self.mu_schedule = Parameter(initializer(1, [1]), name="mu_schedule")
        self.beta2_power = Parameter(initializer(1, [1]), name="beta2_power")

    def _mu(self, step):
        return self.beta1 * (1.0 - 0.5 * ops.pow(self.scalar(0.96), step * self.schedule_decay))

    @jit
    def construct(self, gradients):
        lr = self.get_lr()
        step = self.global_step.astype(self.beta1.dtype) + 1.0
        gradients = self.decay_weight(gradients)
        mu, mu_next = self._mu(step), self._mu(step + 1.0)
        mu_schedule = self.mu_schedule * mu
        mu_schedule_next = mu_schedule * mu_next
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.mu_schedule, mu_schedule)
        ops.assign(self.beta2_power, beta2_power)
        for i in range(len(self.parameters)):
            param, grad = self.parameters[i], gradients[i]
            m = self.beta1 * self.moments1[i] + (1.0 - self.beta1) * grad
            v = self.beta2 * self.moments2[i] + (1.0 - self.beta2) * ops.square(grad)
            nesterov_m = mu_next * m / (1.0 - mu_schedule_next) + (1.0 - mu) * grad / (1.0 - mu_schedule)
            ops.assign(param, param - lr * nesterov_m / (self.eps + ops.sqrt(v / (1.0 - beta2_power))))
            ops.assign(self.moments1[i], m)
            ops.assign(self.moments2[i], v)
        return Tensor(True)
