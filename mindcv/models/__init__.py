"""Models, their registry and ``create_model``."""
from . import xception, xception_aligned  # noqa: F401  (registers the models)
from .builder import load_model_checkpoint, load_pretrained
from .features import FeatureExtractor, FeatureInfo
from .layers import MIN_INPUT_SIZE
from .model_factory import create_model
from .pretrained import PretrainedCfg
from .registry import (UnknownModelError, get_pretrained_cfg, is_model, list_models, list_pretrained,
                       model_entrypoint, register_model)
from .xception import Xception
from .xception_aligned import XceptionAligned

__all__ = ["create_model", "register_model", "list_models", "list_pretrained", "is_model", "model_entrypoint",
           "get_pretrained_cfg", "UnknownModelError", "PretrainedCfg", "FeatureExtractor", "FeatureInfo",
           "load_model_checkpoint", "load_pretrained", "Xception", "XceptionAligned", "MIN_INPUT_SIZE"]
