"""Learning-rate schedules and ``create_scheduler``."""
from .scheduler_factory import SCHEDULERS, create_scheduler

__all__ = ["create_scheduler", "SCHEDULERS"]
