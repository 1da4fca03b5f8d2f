"""Losses and ``create_loss``."""
from .loss_factory import LOSSES, BinaryCrossEntropySmooth, CrossEntropySmooth, create_loss

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "LOSSES"]
