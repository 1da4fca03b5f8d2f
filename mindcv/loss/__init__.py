"""Losses and ``create_loss``."""
from .asymmetric import AsymmetricLossMultilabel, AsymmetricLossSingleLabel
from .jsd import JSDCrossEntropy
from .loss_factory import LOSSES, BinaryCrossEntropySmooth, CrossEntropySmooth, create_loss

__all__ = ["create_loss", "CrossEntropySmooth", "BinaryCrossEntropySmooth", "AsymmetricLossSingleLabel",
           "AsymmetricLossMultilabel", "JSDCrossEntropy", "LOSSES"]
