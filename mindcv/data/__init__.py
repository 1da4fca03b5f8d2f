"""Data: data sets on MindSpore's dataset engine, transforms and loaders."""
from .dataset_factory import SplitDataset, create_dataset
from .loader import create_loader
from .sources import find_bad_images
from .transforms_factory import create_transforms
from ..utils.errors import DataError

__all__ = ["create_dataset", "create_transforms", "create_loader", "DataError", "find_bad_images", "SplitDataset"]
