"""Learning-rate schedules: ``create_scheduler`` and MindCV's ``dynamic_lr`` functions."""
from . import dynamic_lr
from .scheduler_factory import SCHEDULERS, create_scheduler

__all__ = ["create_scheduler", "dynamic_lr", "SCHEDULERS"]
