"""Training and evaluation engine used by ``train.py`` and ``validate.py``."""
from .evaluate import evaluate
from .runtime import Runtime, setup_logging, setup_runtime
from .train_step import TrainStep, create_loss_scale
from .trainer import Trainer, TrainingInterrupted, TrainingStopped

__all__ = ["evaluate", "Runtime", "setup_logging", "setup_runtime", "TrainStep", "create_loss_scale", "Trainer",
           "TrainingStopped", "TrainingInterrupted"]
