"""Optimizers and ``create_optimizer``."""
from .adamw import AdamW
from .adan import Adan
from .lion import Lion
from .nadam import NAdam
from .optim_factory import OPTIMIZERS, create_optimizer, param_groups

__all__ = ["create_optimizer", "param_groups", "AdamW", "Adan", "Lion", "NAdam", "OPTIMIZERS"]
