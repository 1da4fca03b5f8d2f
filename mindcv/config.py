"""Typed options for ``train.py`` / ``validate.py``: defaults < YAML (``--config``) < command line.

Every option of upstream MindCV's ``config.py`` is here under its name, with its default and meaning
(``device_target`` defaults to ``auto`` instead of ``Ascend``), so MindCV recipes run unchanged. Unknown
keys (YAML or command line), values of the wrong type and values out of range raise :class:`ConfigError`
naming the key and the fix, before anything is built.
"""
import argparse
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .data.constants import IMAGENET_MEAN, IMAGENET_STD
from .data.dataset_factory import SPLIT_DATASETS
from .data.transforms_factory import Preprocessing
from .engine.amp import AMP_LEVELS
from .loss import LOSSES
from .models.layers import MATMUL_PRECISIONS, MIN_INPUT_SIZE
from .optim.optim_factory import OPTIMIZERS, WEIGHT_DECAY_FILTERS
from .scheduler import SCHEDULERS
from .utils.errors import ConfigError, UnknownOptionError
from .utils.suggest import did_you_mean

__all__ = ["ConfigError", "Option", "OPTIONS", "parse_config", "load_yaml", "dump_config", "build_parser",
           "parse_saved_config", "SavedRun", "read_saved_run", "resolve_options", "evaluation_preprocessing",
           "BACKENDS", "PRECISIONS", "check_serving_options"]

# The inference backends and OpenVINO precisions ``validate.py --backend/--precision`` and ``predict`` accept;
# ``mindcv.serving.backends`` runs them and reads the saved options, so the names live here, below it.
BACKENDS = ("mindspore", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "int8")


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` is the value type (see :func:`_convert`); ``bounds`` is an inclusive (low, high), of
    each item for lists; ``items`` the (fewest, most) items of a list; ``ordered`` lists are non-decreasing."""
    name: str
    default: Any
    kind: str
    group: str
    help: str
    choices: Optional[Tuple[Any, ...]] = None
    bounds: Optional[Tuple[Optional[float], Optional[float]]] = None
    any_case: bool = False  # compared case-insensitively; stored as the matching choice (or lower-case)
    items: Optional[Tuple[int, int]] = None
    ordered: bool = False


def _o(name, default, kind, group, help, choices=None, bounds=None, any_case=False, items=None, ordered=False):
    return Option(name, default, kind, group, help, choices, bounds, any_case, items, ordered)


_POSITIVE = (1, None)
_NON_NEGATIVE = (0, None)
_PROBABILITY = (0.0, 1.0)
_PIXEL = (0.0, 255.0)
_RANGE = dict(items=(2, 2), ordered=True)  # a [low, high] pair
_PER_CHANNEL = (1, 4)  # one value for every channel, or one per channel (checked against in_channels)

OPTIONS: List[Option] = [
    # system
    _o("mode", 0, "int", "system", "0 = graph mode, 1 = PyNative mode", (0, 1)),
    _o("distribute", False, "bool", "system", "data-parallel training under msrun"),
    _o("val_while_train", False, "bool", "system", "validate during training"),
    _o("val_interval", 1, "int", "system", "epochs between validations", bounds=_POSITIVE),
    _o("log_interval", 100, "int", "system", "steps between log lines", bounds=_POSITIVE),
    _o("tensorboard", True, "bool", "system", "write TensorBoard event files to <run directory>/tensorboard when "
                                             "tensorboardX is installed (added here)"),
    _o("mlflow", False, "bool", "system", "log the options, metrics, best.ckpt and plot.png to an MLflow run (added "
                                         "here)"),
    _o("mlflow_tracking_uri", "", "str", "system", "MLflow tracking server or store (empty: MLflow's default, "
                                                   "MLFLOW_TRACKING_URI or its local store; added here)"),
    _o("mlflow_experiment", "mindcv", "str", "system", "MLflow experiment of the run (added here)"),
    _o("backend", "mindspore", "str", "system", "validate.py: mindspore, or onnxruntime / openvino running the "
                                                "checkpoint's cached ONNX export, checked against MindSpore on the "
                                                "first batch (added here)", BACKENDS, any_case=True),
    _o("precision", "auto", "str", "system", "validate.py with --backend openvino: auto (bf16 where the CPU has "
                                             "it), fp32, bf16, or int8 (post-training quantization on "
                                             "--calibration_dir; added here)", PRECISIONS, any_case=True),
    _o("calibration_dir", "", "str", "system", "validate.py --precision int8: folder of images (searched "
                                               "recursively) whose statistics quantize the export (added here)"),
    _o("calibration_size", 300, "int", "system", "validate.py --precision int8: calibration images, spread evenly "
                                                 "over calibration_dir's sorted files (added here)", bounds=_POSITIVE),
    _o("export_dir", "", "str", "system", "validate.py: folder of the cached exports (empty: beside the checkpoint; "
                                          "added here)"),
    _o("calibrate", False, "bool", "system", "validate.py: fit a temperature to the validated images, store it in "
                                             "the checkpoint (predict divides the logits by it) and draw "
                                             "reliability.png beside it (added here)"),
    _o("seed", 42, "int", "system", "random seed (weights, data order, augmentation, dropout)",
       bounds=(0, 2**32 - 1)),
    _o("device_target", "auto", "str", "system", "auto (Ascend, then GPU, then CPU), Ascend, GPU or CPU",
       ("auto", "Ascend", "GPU", "CPU")),
    _o("jit_level", "", "str", "system", "graph compile level O0/O1/O2 (empty: O2 in graph mode on Ascend, as "
                                         "MindCV's train.py; MindSpore's default elsewhere; added here)",
       ("", "O0", "O1", "O2")),
    # dataset
    _o("dataset", "imagenet", "str", "dataset", "imagenet or '' (folders <data_dir>/<split>/<class>/<image>), "
                                                 "imagefolder, or fashion_mnist", any_case=True),
    _o("data_dir", "./", "str", "dataset", "data root"),
    _o("train_split", "train", "str", "dataset", "training split folder"),
    _o("val_split", "val", "str", "dataset", "validation split folder"),
    _o("dataset_download", False, "bool", "dataset", "download the data set (not available: nothing is fetched; "
                                                     "True is an error)"),
    _o("num_parallel_workers", 8, "int", "dataset", "data pipeline workers", bounds=_POSITIVE),
    _o("python_multiprocessing", True, "bool", "dataset", "run the Python augmentation (auto_augment, random "
                                                          "erasing, mixup/cutmix) in worker processes (added here)"),
    _o("shuffle", True, "bool", "dataset", "shuffle the training data each epoch"),
    _o("num_samples", None, "int_or_none", "dataset", "use at most this many training images", bounds=_POSITIVE),
    _o("val_num_samples", None, "int_or_none", "dataset", "use at most this many validation images (added here)",
       bounds=_POSITIVE),
    _o("batch_size", 128, "int", "dataset", "batch size per device", bounds=_POSITIVE),
    _o("drop_remainder", True, "bool", "dataset", "drop the last incomplete training batch"),
    # augmentation
    _o("image_resize", 224, "int", "augmentation", "training crop / evaluation size in pixels", bounds=_POSITIVE),
    _o("scale", [0.08, 1.0], "numbers", "augmentation", "RandomResizedCrop area range", bounds=(1e-6, 1.0), **_RANGE),
    _o("ratio", [0.75, 1.333], "numbers", "augmentation", "RandomResizedCrop aspect-ratio range", bounds=(1e-6, None),
       **_RANGE),
    _o("hflip", 0.5, "float", "augmentation", "horizontal flip probability", bounds=_PROBABILITY),
    _o("vflip", 0.0, "float", "augmentation", "vertical flip probability", bounds=_PROBABILITY),
    _o("color_jitter", 0.4, "float_or_numbers", "augmentation",
       "color jitter strength, or [brightness, contrast, saturation(, hue)]; used when auto_augment is empty",
       bounds=_NON_NEGATIVE, items=(3, 4)),
    _o("interpolation", "bilinear", "str", "augmentation", "resize interpolation (nearest, bilinear, bicubic, area)",
       any_case=True),
    _o("auto_augment", None, "str_or_none", "augmentation",
       "autoaug[-mstd{S}], autoaugr, 3a, randaug-m{M}-n{N}-w{W}-mstd{S}-mmax{X}-inc{0,1}, "
       "trivialaugwide[-m{M}], augmix[-m{M}-w{W}-d{D}-a{A}]"),
    _o("aug_splits", 0, "int", "augmentation", "augmentation splits: 0, or 3 (clean + two auto-augmented copies)",
       (0, 3)),
    _o("re_prob", 0.0, "float", "augmentation", "random erasing probability", bounds=_PROBABILITY),
    _o("re_scale", [0.02, 0.33], "numbers", "augmentation", "random erasing area range", bounds=(1e-6, 1.0),
       **_RANGE),
    _o("re_ratio", [0.3, 3.3], "numbers", "augmentation", "random erasing aspect-ratio range", bounds=(1e-6, None),
       **_RANGE),
    _o("re_value", 0, "erase_value", "augmentation", "random erasing value: a number (in normalised units), "
                                                       "[r, g, b], or 'random'", items=_PER_CHANNEL),
    _o("re_max_attempts", 10, "int", "augmentation", "random erasing: attempts to find a box", bounds=_POSITIVE),
    _o("mean", list(IMAGENET_MEAN), "numbers", "augmentation", "normalisation mean (0-255 units)", bounds=_PIXEL,
       items=_PER_CHANNEL),
    _o("std", list(IMAGENET_STD), "numbers", "augmentation", "normalisation std (0-255 units)", bounds=(1e-6, 255.0),
       items=_PER_CHANNEL),
    _o("crop_pct", 0.875, "float", "augmentation", "evaluation center-crop fraction", bounds=(1e-6, None)),
    _o("mixup", 0.0, "float", "augmentation", "mixup alpha (0 = off)", bounds=_NON_NEGATIVE),
    _o("cutmix", 0.0, "float", "augmentation", "cutmix alpha (0 = off)", bounds=_NON_NEGATIVE),
    _o("cutmix_prob", 1.0, "float", "augmentation", "probability that a batch is mixed", bounds=_PROBABILITY),
    _o("aug_repeats", 0, "int", "augmentation", "repeated augmentation: each image this many times per epoch "
                                                "(0 or 1: off)", bounds=_NON_NEGATIVE),
    # model
    _o("model", "mobilenet_v2_035_224", "str", "model", "registered model name (MindCV's default; this package "
                                                         "has the Xception family)"),
    _o("num_classes", None, "int_or_none", "model", "number of classes (empty: from the training data)",
       bounds=_POSITIVE),
    _o("in_channels", 3, "int", "model", "input channels", bounds=_POSITIVE),
    _o("drop_rate", None, "float_or_none", "model", "dropout before the classifier (empty: the model's default, "
                                                     "0.5 for xception)", bounds=(0.0, 0.999)),
    _o("drop_path_rate", None, "float_or_none", "model", "stochastic depth rate (models without drop path: no "
                                                          "effect, logged)", bounds=_PROBABILITY),
    _o("bn_momentum", None, "float_or_none", "model", "BatchNorm moving-statistics momentum (weight of the old "
                                                       "value; empty: the model's default; added here)",
       bounds=_PROBABILITY),
    _o("freeze_bn", False, "bool", "model", "BatchNorm layers keep their (pretrained) moving statistics and "
                                            "normalise with them while the rest trains, as in evaluation; their "
                                            "scale and shift still learn (fine-tuning on small data; added here)"),
    _o("pretrained", False, "bool_or_str", "model", "load pretrained weights (True, or a tag such as keras_in1k)"),
    _o("ckpt_path", "", "str", "model", "checkpoint to start from (with resume_opt: to resume; validate.py: the one "
                                        "to evaluate)"),
    _o("resume_opt", False, "bool", "model", "resume the training state (optimizer, step, epoch) from ckpt_path"),
    _o("keep_checkpoint_max", 10, "int", "model", "checkpoints kept by the policy", bounds=_POSITIVE),
    _o("ckpt_save_dir", "./ckpt", "str", "model", "run directory: checkpoints, logs, metrics"),
    _o("ckpt_save_interval", 1, "int", "model", "epochs between checkpoints", bounds=_POSITIVE),
    _o("ckpt_save_policy", "latest_k", "str", "model", "latest_k or top_k (by validation top-1)",
       ("latest_k", "top_k")),
    _o("overwrite", False, "bool", "model", "reuse a ckpt_save_dir that holds another run (default: a new "
                                            "numbered directory beside it; added here)"),
    _o("epoch_size", 90, "int", "model", "number of epochs", bounds=_POSITIVE),
    _o("dataset_sink_mode", True, "bool", "model", "accepted; batches are fed from the host (no effect, logged)"),
    _o("ema", False, "bool", "model", "keep an EMA of the weights (validation and best.ckpt use it)"),
    _o("ema_decay", 0.9999, "float", "model", "EMA decay (warmed up as decay * (1 - exp(-updates / 2000)))",
       bounds=_PROBABILITY),
    _o("clip_grad", False, "bool", "model", "clip gradients by global norm"),
    _o("clip_value", 15.0, "float", "model", "max global gradient norm when clipping", bounds=(1e-12, None)),
    _o("layer_decay", None, "float_or_none", "model", "layer-wise learning-rate decay", bounds=(1e-12, 1.0)),
    _o("gradient_accumulation_steps", 1, "int", "model", "accumulate the gradients of this many batches per update",
       bounds=_POSITIVE),
    _o("max_nonfinite_steps", 3, "int", "model", "stop after this many consecutive non-finite losses (added here)",
       bounds=_POSITIVE),
    # optimizer
    _o("opt", "adam", "str", "optimizer", "optimizer", OPTIMIZERS, any_case=True),
    _o("momentum", 0.9, "float", "optimizer", "momentum", bounds=_NON_NEGATIVE),
    _o("weight_decay", 1e-6, "float", "optimizer", "weight decay", bounds=_NON_NEGATIVE),
    _o("use_nesterov", False, "bool", "optimizer", "Nesterov momentum"),
    _o("weight_decay_filter", "disable", "str", "optimizer", "disable (decay everything), auto (MindSpore's "
                                                             "filter: no decay for names with beta/gamma), "
                                                             "norm_and_bias (also no decay for biases)",
       WEIGHT_DECAY_FILTERS),
    _o("eps", 1e-10, "float", "optimizer", "epsilon of rmsprop", bounds=_NON_NEGATIVE),
    # scheduler
    _o("scheduler", "cosine_decay", "str", "scheduler", "learning-rate schedule", SCHEDULERS, any_case=True),
    _o("lr", 0.001, "float", "scheduler", "base learning rate", bounds=_NON_NEGATIVE),
    _o("min_lr", 1e-6, "float", "scheduler", "final learning rate of decays", bounds=_NON_NEGATIVE),
    _o("warmup_epochs", 3, "float", "scheduler", "linear warmup epochs (fractions allowed here)",
       bounds=_NON_NEGATIVE),
    _o("warmup_factor", 0.0, "float", "scheduler", "warmup starts at lr * warmup_factor", bounds=_NON_NEGATIVE),
    _o("decay_epochs", 100, "int", "scheduler", "epochs of a cosine cycle / between step decays", bounds=_NON_NEGATIVE),
    _o("decay_rate", 0.9, "float", "scheduler", "step/multi-step/exponential decay factor, polynomial power",
       bounds=_NON_NEGATIVE),
    _o("multi_step_decay_milestones", [30, 60, 90], "numbers", "scheduler", "multi_step_decay epochs (counted "
                                                                            "after warmup)", bounds=_NON_NEGATIVE,
       items=(1, 10_000), ordered=True),
    _o("lr_epoch_stair", False, "bool", "scheduler", "update the lr once per epoch instead of every step"),
    _o("num_cycles", 1, "int", "scheduler", "cosine cycles (and cyclic cycles)", bounds=_POSITIVE),
    _o("cycle_decay", 1.0, "float", "scheduler", "factor on the peak lr of each new cosine cycle",
       bounds=_NON_NEGATIVE),
    # loss
    _o("loss", "CE", "str", "loss", "CE (cross-entropy), BCE (binary cross-entropy), asl_single_label, "
                                    "asl_multi_label (asymmetric) or jsd (AugMix consistency, with aug_splits 3)",
       LOSSES, any_case=True),
    _o("label_smoothing", 0.0, "float", "loss", "label smoothing", bounds=(0.0, 0.999)),
    _o("aux_factor", 0.0, "float", "loss", "auxiliary-logit loss factor (models without auxiliary logits: no "
                                            "effect, logged)", bounds=_NON_NEGATIVE),
    _o("reduction", "mean", "str", "loss", "loss reduction", ("mean", "sum"), any_case=True),
    # mixed precision
    _o("amp_level", "O0", "str", "amp", "mixed precision for training", AMP_LEVELS),
    _o("val_amp_level", "O0", "str", "amp", "mixed precision for validate.py (in-training validation runs the "
                                            "training network, as in MindCV)", AMP_LEVELS),
    _o("float32_matmul_precision", "highest", "str", "amp", "CPU kernels: highest (float32 products) or medium "
       "(the pointwise convolutions with bf16 inputs and float32 accumulation on CPUs with AVX512-BF16/AMX; "
       "PyTorch's torch.set_float32_matmul_precision; added here)", MATMUL_PRECISIONS, any_case=True),
    _o("amp_cast_list", None, "str_or_none", "amp", "cells to cast, e.g. '[nn.Conv2d, nn.Dense]' (O1: white list, "
                                                     "O2: black list)"),
    _o("loss_scale_type", "fixed", "str", "amp", "fixed, dynamic or auto", ("fixed", "dynamic", "auto"),
       any_case=True),
    _o("loss_scale", 1.0, "float", "amp", "(initial) loss scale", bounds=(1.0, None)),
    _o("drop_overflow_update", False, "bool", "amp", "skip the update of steps whose gradients overflow"),
    _o("eval_shuffle", False, "bool", "amp", "shuffle the evaluation data (metrics do not depend on it)"),
]
_BY_NAME = {o.name: o for o in OPTIONS}
GROUPS = ("system", "dataset", "augmentation", "model", "optimizer", "scheduler", "loss", "amp")


def _suggest(name: str) -> str:
    return did_you_mean(name, _BY_NAME, cutoff=0.6) or " Run with --help for the list of options."


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no"):
        return False
    raise ValueError("expected True or False")


def _number(value: Any) -> float:
    if isinstance(value, bool) or isinstance(value, (list, dict, tuple)):
        raise ValueError("expected a number")
    number = float(value)  # YAML reads 1e-3 (no dot) as a string; float() takes it
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _numbers(value: Any) -> List[float]:
    if isinstance(value, str):
        text = value.strip()
        value = yaml.safe_load(text if text.startswith(("[", "(")) else f"[{text}]")
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("expected a list of numbers, e.g. [0.08, 1.0]")
    numbers = [_number(v) for v in value]
    return [int(n) if n.is_integer() and isinstance(v, int) else n for n, v in zip(numbers, value)]


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", ""))


def _convert(option: Option, value: Any) -> Any:
    """Convert a YAML or command-line value to the option's type (ValueError on mismatch)."""
    kind = option.kind
    if kind.endswith("_or_none") and _is_none(value):
        return None
    if kind == "bool":
        return _parse_bool(value)
    if kind == "bool_or_str":
        if isinstance(value, (list, dict, float, int)) and not isinstance(value, bool):
            raise ValueError("expected True, False or a tag")
        try:
            return _parse_bool(value)
        except ValueError:
            return str(value)
    if kind in ("int", "int_or_none"):
        number = _number(value)
        if not number.is_integer():
            raise ValueError("expected an integer")
        return int(number)
    if kind in ("float", "float_or_none"):
        return _number(value)
    if kind in ("str", "str_or_none"):
        if isinstance(value, (list, dict)):
            raise ValueError("expected a string")
        return str(value)
    if kind == "numbers":
        return _numbers(value)
    if kind == "float_or_numbers":
        if _is_none(value):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and not value.strip().startswith(("[", "(")) and "," not in value:
            return _number(value)
        return _numbers(value)
    if kind == "erase_value":
        if isinstance(value, str) and value.strip().lower() == "random":
            return "random"
        if isinstance(value, (list, tuple)) or (isinstance(value, str) and value.strip().startswith(("[", "("))):
            return _numbers(value)
        return _number(value)
    raise AssertionError(kind)


def _check_range(option: Option, value: Any) -> Optional[str]:
    """What is wrong with a converted value's size, order or range (None: nothing)."""
    if value is None or isinstance(value, str):
        return None
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and option.items:
        fewest, most = option.items
        if not fewest <= len(value) <= most:
            return (f"must have {fewest} value(s)" if fewest == most else f"must have {fewest} to {most} values") + \
                f", not {len(value)}"
        if option.ordered and any(a > b for a, b in zip(value, value[1:])):
            return "must be in increasing order ([low, high])" if option.items == (2, 2) else "must increase"
    if option.bounds is None:
        return None
    low, high = option.bounds
    if any((low is not None and v < low) or (high is not None and v > high) for v in items):
        wanted = (f"between {low} and {high}" if low is not None and high is not None
                  else f">= {low}" if low is not None else f"<= {high}")
        return f"must be {wanted}" if len(items) == 1 and not isinstance(value, list) else f"values must be {wanted}"
    return None


def check_serving_options(backend: str, precision: str, calibration_dir: str) -> None:
    """What runs the model and at which precision, as validate.py and predict take them."""
    if precision in ("bf16", "int8") and backend != "openvino":
        raise ConfigError(f"Option 'precision' {precision} needs --backend openvino (backend {backend} runs fp32).")
    if (precision == "int8") != bool(calibration_dir):
        raise ConfigError("Options 'precision' int8 and 'calibration_dir' go together: int8 quantizes the export "
                          "with the statistics of the images in --calibration_dir DIR, which nothing else reads.")


def _check_together(config: Dict[str, Any]) -> None:
    """Checks that involve several options, all of them here, so that ``--print_config`` refuses what a run would
    (checks that need the data, such as ``num_classes`` against the folder's classes, run when it is read)."""
    if config["image_resize"] < MIN_INPUT_SIZE:
        raise ConfigError(f"image_resize {config['image_resize']} is below {config['model']}'s minimum input of "
                          f"{MIN_INPUT_SIZE} pixels.")
    if config["dataset"] not in SPLIT_DATASETS:
        raise ConfigError(f"train.py and validate.py read image folders (imagenet, imagefolder) and fashion_mnist, not "
                          f"'{config['dataset']}'; MindCV-style scripts read it through mindcv.create_dataset.")
    if config["ckpt_save_policy"] == "top_k" and not config["val_while_train"]:
        raise ConfigError("ckpt_save_policy top_k ranks checkpoints by validation top-1: set val_while_train True.")
    if config["resume_opt"] and not config["ckpt_path"]:
        raise ConfigError("resume_opt True needs --ckpt_path <checkpoint written by train.py>.")
    check_serving_options(config["backend"], config["precision"], config["calibration_dir"])
    if config["float32_matmul_precision"] == "medium" and config["backend"] != "mindspore":
        raise ConfigError("Option 'float32_matmul_precision' medium is for MindSpore's own run; an exported backend "
                          f"({config['backend']}) takes --precision instead.")
    if config["mlflow"] and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("Option 'mlflow' True needs MLflow: pip install mlflow (or mindcv-xception[tracking]), or "
                          "set mlflow False.")
    if not config["mlflow_experiment"].strip():
        raise ConfigError("Option 'mlflow_experiment' must name an experiment, got an empty name.")
    channels = config["in_channels"]
    for name in ("mean", "std", "re_value"):
        value = config[name]
        if isinstance(value, list) and len(value) not in (1, channels):
            raise ConfigError(f"Option '{name}' has {len(value)} values but in_channels is {channels}: give one value "
                              f"per input channel ({channels}) or a single value for all.")


def _set(config: Dict[str, Any], key: str, value: Any, origin: str) -> None:
    option = _BY_NAME.get(key)
    if option is None:
        raise UnknownOptionError(f"Unknown option '{key}' in {origin}.{_suggest(key)}")
    try:
        converted = _convert(option, value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Option '{key}' in {origin} has invalid value {value!r}: {exc}.") from None
    if option.any_case and isinstance(converted, str):
        choices = [c for c in option.choices or () if str(c).lower() == converted.lower()]
        converted = choices[0] if choices else converted.lower()
    if option.choices is not None and converted not in option.choices:
        raise ConfigError(f"Option '{key}' in {origin} must be one of {list(c for c in option.choices if c != '')}, "
                          f"got {value!r}.{did_you_mean(str(converted), [str(c) for c in option.choices])}")
    problem = _check_range(option, converted)
    if problem:
        raise ConfigError(f"Option '{key}' in {origin} {problem}, got {value!r}.")
    config[key] = converted


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (plain YAML keeps the last value silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"Config file {self.name} sets '{key}' twice (lines {seen[key]} and {line}); "
                                  "keep one.")
            seen[key] = line
        return super().construct_mapping(node, deep)


def _mapping(text: str, origin: str) -> Dict[str, Any]:
    """The option: value mapping of YAML ``text``; a syntax error or a key set twice names ``origin`` (and line)."""
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = origin
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Config file {origin} is not valid YAML{where}: {problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {origin} must hold a mapping of option: value, not {type(data).__name__}.")
    return data


def load_yaml(path: str) -> Dict[str, Any]:
    """Read a YAML config; a missing file, bad encoding, syntax error or a key set twice names the file (and
    line)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file not found: {file}.")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"Config file {file} could not be read: {exc.strerror or exc}.") from None
    return _mapping(text, str(file))


def parse_saved_config(text: str, origin: str) -> argparse.Namespace:
    """The options a run saved (its ``config.yaml``, or the copy in a checkpoint's metadata), read as a YAML file
    given with ``--config`` is read: a key that is not an option of this version (renamed or removed) is an error
    naming ``origin``, every value is checked, and an option the run did not save takes its default. The checks
    on combinations of options are left out: they concern starting a run (e.g. an installed MLflow), not reading
    what one used."""
    config = {o.name: o.default for o in OPTIONS}
    for key, value in _mapping(text, origin).items():
        _set(config, str(key), value, origin)
    return argparse.Namespace(**config)


@dataclass(frozen=True)
class SavedRun:
    """What a run's saved options tell a user of its checkpoint: the model's input channels, the preprocessing its
    validation used and the data it learnt from."""
    in_channels: int
    preprocessing: Preprocessing
    dataset: str
    train_split: str
    val_split: str


def read_saved_run(text: str, origin: str) -> SavedRun:
    """:class:`SavedRun` of the options a run saved, read (and checked) by :func:`parse_saved_config`."""
    config = parse_saved_config(text, origin)
    return SavedRun(config.in_channels, evaluation_preprocessing(config), config.dataset, config.train_split,
                    config.val_split)


def build_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--config/-c``, ``--print_config`` and one flag per option, grouped.

    Boolean options also work as bare flags (``--distribute`` means ``--distribute True``).
    """
    parser = argparse.ArgumentParser(description=description, argument_default=argparse.SUPPRESS,
                                     allow_abbrev=False)
    parser.add_argument("-c", "--config", default="", help="YAML config file (command-line flags override it)")
    parser.add_argument("--print_config", action="store_true", default=False,
                        help="resolve and check the options, print them as YAML and exit without building anything")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for option in OPTIONS:
        choices = f" {{{', '.join(str(c) for c in option.choices if c != '')}}}" if option.choices else ""
        extra = dict(nargs="?", const="True") if option.kind == "bool" else {}
        groups[option.group].add_argument(f"--{option.name}", metavar=option.kind.upper(),
                                          help=f"{option.help}{choices} (default: {option.default!r})", **extra)
    return parser


def parse_config(argv: Optional[Sequence[str]] = None, description: str = "") -> argparse.Namespace:
    """Resolve options: defaults < YAML file of ``--config`` < command-line flags.

    The namespace also carries ``config`` (the YAML path) and ``print_config``.
    """
    parser = build_parser(description)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flag = unknown[0].lstrip("-").split("=", 1)[0]
        raise UnknownOptionError(f"Unknown command-line option '{unknown[0]}'.{_suggest(flag)}")
    config = {o.name: o.default for o in OPTIONS}
    given = vars(args)
    yaml_path = given.pop("config", "")
    print_config = given.pop("print_config", False)
    if yaml_path:
        for key, value in load_yaml(yaml_path).items():
            _set(config, str(key), value, f"config file {yaml_path}")
    for key, value in given.items():
        _set(config, key, value, "the command line")
    _check_together(config)
    config["config"] = yaml_path
    config["print_config"] = print_config
    return argparse.Namespace(**config)


def resolve_options(argv: Optional[Sequence[str]], description: str) -> Optional[argparse.Namespace]:
    """How ``train.py`` and ``validate.py`` read their options: those of ``argv`` (``description`` heads
    ``--help``); None once ``--print_config`` has printed them instead."""
    config = parse_config(argv, description=description)
    if config.print_config:
        print(dump_config(config), end="")
        return None
    return config


def dump_config(config: argparse.Namespace) -> str:
    """The resolved options as YAML (every option, in table order)."""
    values = {o.name: getattr(config, o.name) for o in OPTIONS}
    return yaml.safe_dump(values, sort_keys=False)


def evaluation_preprocessing(config: argparse.Namespace) -> Preprocessing:
    """The evaluation preprocessing the options describe: what a run's validation fed its model."""
    return Preprocessing(config.image_resize, config.crop_pct, config.interpolation, tuple(config.mean),
                         tuple(config.std))
