"""Losses and ``create_loss``."""
from .loss_factory import BinaryCrossEntropySmooth, CrossEntropySmooth, create_loss

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth"]
