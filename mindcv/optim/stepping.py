"""What the optimizers written here share: MindCV's step counting and per-parameter argument unpacking."""
import mindspore as ms
from mindspore import Tensor, nn

__all__ = ["SteppingOptimizer"]


class SteppingOptimizer(nn.Optimizer):
    """An ``nn.Optimizer`` whose ``get_lr`` also advances ``global_step`` (as MindCV's AdamW, Lion, NAdam and
    Adan do), and that hands each parameter its learning rate and weight decay whether or not groups are used."""

    def get_lr(self):
        lr = self.learning_rate
        if self.dynamic_lr:
            if self.is_group_lr:
                lr = tuple(schedule(self.global_step).reshape(()) for schedule in self.learning_rate)
            else:
                lr = self.learning_rate(self.global_step).reshape(())
        if self._is_dynamic_lr_or_weight_decay():
            self.assignadd(self.global_step, self.global_step_increase_tensor)
        return lr

    def per_parameter(self, values, count: int) -> tuple:
        """``values`` (one per parameter when grouped, else one for all) as a tuple of ``count``."""
        if isinstance(values, tuple):
            return values
        return (values,) * count

    @staticmethod
    def scalar(value: float) -> Tensor:
        return Tensor(value, ms.float32)
