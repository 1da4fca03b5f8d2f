"""mindcv for Xception: the Xception family on MindSpore, with training, validation and pretrained weights."""
__version__ = "0.1.0"

from .models import create_model, list_models, list_pretrained

__all__ = ["__version__", "create_model", "list_models", "list_pretrained"]
