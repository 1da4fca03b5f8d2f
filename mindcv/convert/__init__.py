"""Weight converters: published Xception weights from other frameworks into MindSpore checkpoints."""
from .common import ConversionError, write_converted
from .keras import convert_keras_file, convert_keras_xception, read_keras_h5
from .timm import (convert_timm_aligned, convert_timm_aligned_file, convert_timm_file, convert_timm_xception,
                   read_state_dict)

__all__ = ["ConversionError", "write_converted", "convert_keras_file", "convert_keras_xception", "read_keras_h5",
           "convert_timm_file", "convert_timm_xception", "convert_timm_aligned_file", "convert_timm_aligned",
           "read_state_dict"]
