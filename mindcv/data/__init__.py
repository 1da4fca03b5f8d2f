"""Data: data sets on MindSpore's dataset engine, transforms, augmentation and loaders."""
from .auto_augment import (augment_and_mix_transform, auto_augment_transform, rand_augment_transform,
                           trivial_augment_wide_transform)
from .constants import DEFAULT_CROP_PCT, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from .dataset_download import Cifar10Download, Cifar100Download, MnistDownload, get_dataset_download_root
from .dataset_factory import SplitDataset, create_dataset
from .loader import create_loader
from .mixup import Mixup
from .sources import find_bad_images
from .transforms_factory import create_transforms, transforms_cifar, transforms_mnist
from ..utils.errors import DataError

__all__ = ["create_dataset", "create_transforms", "create_loader", "get_dataset_download_root", "MnistDownload",
           "Cifar10Download", "Cifar100Download", "auto_augment_transform", "rand_augment_transform",
           "trivial_augment_wide_transform", "augment_and_mix_transform", "transforms_cifar", "transforms_mnist",
           "Mixup", "IMAGENET_DEFAULT_MEAN", "IMAGENET_DEFAULT_STD", "DEFAULT_CROP_PCT", "DataError",
           "find_bad_images", "SplitDataset"]
