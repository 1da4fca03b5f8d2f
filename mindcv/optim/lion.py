"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms") for MindSpore."""
from typing import List, Sequence, Tuple, Union

from mindspore import Parameter, Tensor, nn, ops

__all__ = ["Lion"]


def _flatten_groups(params: Sequence[Union[Parameter, dict]], default_decay: float) -> Tuple[List[Parameter],
                                                                                              List[float]]:
    flat, decays = [], []
    for item in params:
        if isinstance(item, dict):
            if "params" in item:
                flat += list(item["params"])
                decays += [float(item.get("weight_decay", default_decay))] * len(item["params"])
        else:
            flat.append(item)
            decays.append(float(default_decay))
    return flat, decays


class Lion(nn.Optimizer):
    """``update = sign(beta1 * m + (1 - beta1) * g)``; ``p -= lr * (update + wd * p)``;
    ``m = beta2 * m + (1 - beta2) * g``. Weight decay is decoupled; parameter groups may set their own."""

    def __init__(self, params, learning_rate=1e-4, beta1: float = 0.9, beta2: float = 0.99,
                 weight_decay: float = 0.0, loss_scale: float = 1.0):
        flat, decays = _flatten_groups(params, weight_decay)
        super().__init__(learning_rate, flat, weight_decay=0.0, loss_scale=loss_scale)
        self.beta1 = beta1
        self.beta2 = beta2
        self.decays = tuple(decays)
        self.moments = self.parameters.clone(prefix="lion_m", init="zeros")

    def construct(self, gradients):
        gradients = self.flatten_gradients(gradients)
        gradients = self.scale_grad(gradients)
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        for i in range(len(self.decays)):
            param, moment, grad = self.parameters[i], self.moments[i], gradients[i]
            update = ops.sign(self.beta1 * moment + (1 - self.beta1) * grad)
            ops.assign(param, param - lr * (update + self.decays[i] * param))
            ops.assign(moment, self.beta2 * moment + (1 - self.beta2) * grad)
        return Tensor(True)
