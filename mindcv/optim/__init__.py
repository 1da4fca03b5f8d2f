"""Optimizers and ``create_optimizer``."""
from .lion import Lion
from .optim_factory import OPTIMIZERS, create_optimizer, split_weight_decay

__all__ = ["create_optimizer", "split_weight_decay", "Lion", "OPTIMIZERS"]
