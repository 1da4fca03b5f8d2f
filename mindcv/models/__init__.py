"""Models, their registry, ``create_model`` and MindCV's model helpers."""
from .features import FeatureExtractor, FeatureExtractWrapper, FeatureInfo
from .helpers import (ConfigDict, build_model_with_cfg, get_checkpoint_download_root, load_model_checkpoint,
                      load_pretrained, make_divisible)
from .layers import MIN_INPUT_SIZE
from .model_factory import create_model
from .pretrained import PretrainedCfg
from .registry import (UnknownModelError, get_pretrained_cfg, get_pretrained_cfg_value, has_pretrained_cfg_key,
                       is_model, is_model_in_modules, is_model_pretrained, list_models, list_modules, list_pretrained,
                       model_entrypoint, register_model)
from .xception import Xception, xception  # the function, as in MindCV: mindcv.models.xception(num_classes=10)
from .xception_aligned import XceptionAligned, xception41, xception65, xception71

__all__ = ["create_model", "register_model", "list_models", "list_modules", "list_pretrained", "is_model",
           "is_model_in_modules", "is_model_pretrained", "model_entrypoint", "get_pretrained_cfg",
           "get_pretrained_cfg_value", "has_pretrained_cfg_key", "UnknownModelError", "PretrainedCfg",
           "FeatureExtractor", "FeatureExtractWrapper", "FeatureInfo", "build_model_with_cfg", "load_model_checkpoint",
           "load_pretrained", "make_divisible", "ConfigDict", "get_checkpoint_download_root", "Xception", "xception",
           "XceptionAligned", "xception41", "xception65", "xception71", "MIN_INPUT_SIZE"]
