"""Typed options for ``train.py`` / ``validate.py``: defaults < YAML (``--config``) < command line.

Option names follow upstream MindCV so its recipes run unchanged. Unknown keys (YAML or command line) and
values of the wrong type raise :class:`ConfigError` naming the key and the closest valid names.
"""
import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .suggest import did_you_mean

__all__ = ["ConfigError", "Option", "OPTIONS", "parse_config", "load_yaml", "save_config", "build_parser"]


class ConfigError(ValueError):
    """A configuration file or flag is invalid."""


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    kind: str  # bool | int | float | str | list | float_or_list | int_or_none | float_or_none | str_or_int
    group: str
    help: str
    choices: Optional[Tuple[Any, ...]] = None


def _o(name, default, kind, group, help, choices=None):
    return Option(name, default, kind, group, help, choices)


OPTIONS: List[Option] = [
    # system
    _o("mode", 0, "int", "system", "0 = graph mode, 1 = PyNative mode", (0, 1)),
    _o("device_target", "auto", "str", "system", "auto (Ascend, then GPU, then CPU), Ascend, GPU or CPU",
       ("auto", "Ascend", "GPU", "CPU")),
    _o("jit_level", "", "str", "system", "graph compile level O0/O1/O2 (empty: MindSpore's default)",
       ("", "O0", "O1", "O2")),
    _o("distribute", False, "bool", "system", "data-parallel training under msrun"),
    _o("num_parallel_workers", 2, "int", "system", "data pipeline workers"),
    _o("seed", 42, "int", "system", "random seed (weights, data order, augmentation)"),
    _o("log_interval", 20, "int", "system", "steps between log lines in the log file"),
    _o("val_while_train", True, "bool", "system", "validate during training"),
    _o("val_interval", 1, "int", "system", "epochs between validations"),
    # dataset
    _o("dataset", "imagenet", "str", "dataset", "imagenet, imagefolder or fashion_mnist"),
    _o("data_dir", "", "str", "dataset", "data root (<data_dir>/<split>/<class>/<image>)"),
    _o("train_split", "train", "str", "dataset", "training split folder"),
    _o("val_split", "val", "str", "dataset", "validation split folder"),
    _o("shuffle", True, "bool", "dataset", "shuffle the training data each epoch"),
    _o("dataset_download", False, "bool", "dataset", "accepted for MindCV compatibility; nothing is downloaded"),
    _o("num_samples", None, "int_or_none", "dataset", "use at most this many training images per epoch"),
    _o("val_num_samples", None, "int_or_none", "dataset", "use at most this many validation images"),
    _o("batch_size", 32, "int", "dataset", "batch size per device"),
    _o("drop_remainder", True, "bool", "dataset", "drop the last incomplete training batch"),
    # augmentation
    _o("image_resize", 224, "int", "augmentation", "training crop / evaluation size in pixels"),
    _o("scale", [0.08, 1.0], "list", "augmentation", "RandomResizedCrop area range"),
    _o("ratio", [0.75, 1.333], "list", "augmentation", "RandomResizedCrop aspect-ratio range"),
    _o("hflip", 0.5, "float", "augmentation", "horizontal flip probability"),
    _o("vflip", 0.0, "float", "augmentation", "vertical flip probability"),
    _o("color_jitter", None, "float_or_list", "augmentation", "color jitter strength (or a list)"),
    _o("interpolation", "bilinear", "str", "augmentation", "resize interpolation",
       ("nearest", "bilinear", "bicubic", "area")),
    _o("auto_augment", None, "str_or_none", "augmentation", "autoaug, randaug-m{M}-n{N}-mstd{S} or trivialaugwide"),
    _o("re_prob", 0.0, "float", "augmentation", "random erasing probability"),
    _o("re_value", 0, "str_or_int", "augmentation", "random erasing value: 'random' or an integer"),
    _o("crop_pct", 0.875, "float", "augmentation", "evaluation center-crop fraction"),
    _o("mixup", 0.0, "float", "augmentation", "mixup alpha (0 = off)"),
    _o("cutmix", 0.0, "float", "augmentation", "cutmix alpha (0 = off)"),
    _o("cutmix_prob", 1.0, "float", "augmentation", "probability that a batch is mixed"),
    _o("mean", [123.675, 116.28, 103.53], "list", "augmentation", "normalisation mean (0-255 units)"),
    _o("std", [58.395, 57.12, 57.375], "list", "augmentation", "normalisation std (0-255 units)"),
    # model
    _o("model", "xception", "str", "model", "registered model name"),
    _o("num_classes", 1000, "int", "model", "number of classes"),
    _o("in_channels", 3, "int", "model", "input channels"),
    _o("drop_rate", 0.5, "float", "model", "dropout before the classifier"),
    _o("bn_momentum", 0.9, "float", "model",
       "BatchNorm moving-statistics momentum (weight of the old value); lower it for very short runs"),
    _o("pretrained", False, "bool_or_str", "model", "load pretrained weights (True or a tag)"),
    _o("ckpt_path", "", "str", "model", "checkpoint to load (validate.py: the one to evaluate)"),
    _o("ema", False, "bool", "model", "keep an EMA of the weights (validate/evaluate with it)"),
    _o("ema_decay", 0.9999, "float", "model", "EMA decay per step"),
    # loss
    _o("loss", "CE", "str", "loss", "CE (cross-entropy) or BCE", ("CE", "BCE", "ce", "bce")),
    _o("label_smoothing", 0.0, "float", "loss", "label smoothing"),
    # lr
    _o("scheduler", "cosine_decay", "str", "lr", "constant, cosine_decay, warmup_cosine_decay, step_decay, "
                                                  "multi_step_decay"),
    _o("lr", 0.001, "float", "lr", "base learning rate"),
    _o("min_lr", 1e-6, "float", "lr", "final learning rate of decays"),
    _o("decay_epochs", 0, "int", "lr", "epochs of decay after warmup (0: the rest of training)"),
    _o("decay_rate", 0.1, "float", "lr", "step/multi-step decay factor"),
    _o("milestones", [30, 60, 90], "list", "lr", "multi_step_decay epochs"),
    _o("warmup_epochs", 0, "float", "lr", "linear warmup epochs"),
    _o("warmup_factor", 0.0, "float", "lr", "warmup starts at lr * warmup_factor"),
    _o("lr_epoch_stair", False, "bool", "lr", "update the lr once per epoch instead of every step"),
    # optimizer
    _o("opt", "momentum", "str", "optimizer", "sgd, momentum, adam, adamw, rmsprop, lion"),
    _o("momentum", 0.9, "float", "optimizer", "momentum (or Adam beta1)"),
    _o("weight_decay", 1e-4, "float", "optimizer", "weight decay"),
    _o("weight_decay_filter", "disable", "str", "optimizer", "exclude BN/bias parameters from decay: disable, "
                                                             "auto, norm_and_bias",
       ("disable", "auto", "norm_and_bias")),
    _o("use_nesterov", False, "bool", "optimizer", "Nesterov momentum"),
    _o("eps", 1e-8, "float", "optimizer", "epsilon of adaptive optimizers"),
    # training
    _o("epoch_size", 90, "int", "training", "number of epochs"),
    _o("dataset_sink_mode", True, "bool", "training", "accepted for MindCV compatibility; batches are fed from the "
                                                      "host by the training loop (no sink mode yet)"),
    _o("amp_level", "O0", "str", "training", "mixed precision O0/O1/O2/O3", ("O0", "O1", "O2", "O3")),
    _o("loss_scale_type", "fixed", "str", "training", "fixed, dynamic or auto", ("fixed", "dynamic", "auto")),
    _o("loss_scale", 1.0, "float", "training", "(initial) loss scale"),
    _o("drop_overflow_update", False, "bool", "training", "skip steps whose gradients overflow (fixed scale)"),
    _o("clip_grad", False, "bool", "training", "clip gradients"),
    _o("clip_value", 15.0, "float", "training", "max global gradient norm when clipping"),
    _o("gradient_accumulation_steps", 1, "int", "training", "accumulate gradients over this many steps"),
    _o("max_nonfinite_steps", 3, "int", "training", "stop after this many consecutive non-finite losses"),
    # checkpoint
    _o("ckpt_save_dir", "./ckpt", "str", "checkpoint", "where checkpoints, logs and metrics go"),
    _o("ckpt_save_policy", "latest_k", "str", "checkpoint", "latest_k or top_k (by validation top-1)",
       ("latest_k", "top_k")),
    _o("keep_checkpoint_max", 10, "int", "checkpoint", "checkpoints kept by the policy"),
    _o("ckpt_save_interval", 1, "int", "checkpoint", "epochs between checkpoints"),
    _o("resume_opt", False, "bool", "checkpoint", "resume training state (optimizer, epoch, lr) from ckpt_path"),
]
_BY_NAME = {o.name: o for o in OPTIONS}
GROUPS = ("system", "dataset", "augmentation", "model", "loss", "lr", "optimizer", "training", "checkpoint")


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


def _number_list(value: Any) -> List[float]:
    if isinstance(value, str):
        value = yaml.safe_load(value if value.strip().startswith("[") else f"[{value}]")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError("expected a list of numbers, e.g. [0.08, 1.0]")
    return list(value)


def _convert(option: Option, value: Any) -> Any:
    """Convert a YAML or command-line value to the option's type (ValueError on mismatch)."""
    kind = option.kind
    if kind == "bool":
        return _parse_bool(value)
    if kind == "bool_or_str":
        try:
            return _parse_bool(value)
        except ValueError:
            return str(value)
    if kind.endswith("_or_none") and (value is None or (isinstance(value, str) and value.lower() in ("none", ""))):
        return None
    if kind in ("int", "int_or_none"):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("expected an integer")
        return int(value)
    if kind in ("float", "float_or_none"):
        if isinstance(value, bool):
            raise ValueError("expected a number")
        return float(value)
    if kind in ("str", "str_or_none"):
        if isinstance(value, (list, dict)):
            raise ValueError("expected a string")
        return str(value)
    if kind == "str_or_int":
        return value if value == "random" else int(value)
    if kind == "list":
        return _number_list(value)
    if kind == "float_or_list":
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return _number_list(value)
    raise AssertionError(kind)


def _set(config: Dict[str, Any], key: str, value: Any, origin: str) -> None:
    option = _BY_NAME.get(key)
    if option is None:
        raise ConfigError(f"Unknown option '{key}' in {origin}.{_suggest(key)}")
    try:
        converted = _convert(option, value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Option '{key}' in {origin} has invalid value {value!r}: {exc}.") from None
    if option.choices is not None and converted not in option.choices:
        raise ConfigError(f"Option '{key}' in {origin} must be one of {list(option.choices)}, got {converted!r}.")
    config[key] = converted


def load_yaml(path: str) -> Dict[str, Any]:
    """Read a YAML config; a missing file or a syntax error names the file (and line)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file not found: {file}.")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"Config file {file} is not valid YAML{where}: {problem}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {file} must hold a mapping of option: value, not {type(data).__name__}.")
    return data


def build_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--config/-c`` and one flag per option, grouped, defaults shown."""
    parser = argparse.ArgumentParser(description=description, argument_default=argparse.SUPPRESS,
                                     allow_abbrev=False)
    parser.add_argument("-c", "--config", default="", help="YAML config file (command-line flags override it)")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for option in OPTIONS:
        choices = f" {{{', '.join(str(c) for c in option.choices if c != '')}}}" if option.choices else ""
        groups[option.group].add_argument(f"--{option.name}", metavar=option.kind.upper(),
                                          help=f"{option.help}{choices} (default: {option.default!r})")
    return parser


def parse_config(argv: Optional[Sequence[str]] = None, description: str = "") -> argparse.Namespace:
    """Resolve options: defaults < YAML file of ``--config`` < command-line flags."""
    parser = build_parser(description)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flag = unknown[0].lstrip("-").split("=", 1)[0]
        raise ConfigError(f"Unknown command-line option '{unknown[0]}'.{_suggest(flag)}")
    config = {o.name: o.default for o in OPTIONS}
    yaml_path = vars(args).pop("config", "")
    if yaml_path:
        for key, value in load_yaml(yaml_path).items():
            _set(config, key, value, f"config file {yaml_path}")
    for key, value in vars(args).items():
        _set(config, key, value, "the command line")
    config["config"] = yaml_path
    return argparse.Namespace(**config)


def save_config(config: argparse.Namespace, path: Path) -> None:
    """Write the resolved config as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(vars(config), sort_keys=False))
