"""Turns the options of ``train.py`` / ``validate.py`` into objects: the runtime, data, model, networks,
optimizer and step, and the settings a training run and an evaluation follow.

This is the one module that reads the options (``mindcv.config`` parses and checks them); everything it builds
takes plain arguments. Callers: :mod:`.training`, :mod:`.validation`, the commands and the benchmarks.
"""
import json
import logging
from argparse import Namespace
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import mindspore as ms
import mindspore.dataset as ds
from mindspore import Parameter, Tensor, nn

from ..config import dump_config, evaluation_preprocessing
from ..data import SplitDataset, create_dataset, create_loader, create_transforms
from ..data.dataset_factory import check_split_folder
from ..engine.amp import LossNetwork, auto_mixed_precision
from ..engine.distributed import average_parameters
from ..engine.networks import NormalizeInput
from ..engine.train_step import TrainStep, create_loss_scale, require_customized_train_step
from ..loss import create_loss
from ..models import create_model, load_model_checkpoint
from ..models.layers import freeze_batch_norm
from ..optim import create_optimizer
from ..scheduler import create_scheduler
from ..serving.backends import checked_on_first_batch, create_runner
from ..serving.quantization import Calibration
from ..utils.checkpoint import checkpoint_metadata, read_checkpoint
from ..utils.errors import ConfigError
from .runtime import Runtime, setup_runtime

__all__ = ["build_runtime", "RunSettings", "run_settings", "TrainingParts", "build_training", "check_training_data",
           "ValidationParts", "build_validation", "build_val_loader", "build_model", "eval_network", "transforms_for",
           "pipeline_settings", "TRAINING_QUEUE_CAPACITY"]

_logger = logging.getLogger(__name__)
# Rows (images, then batches) each stage of MindSpore's data pipeline may hold ahead of the next, instead of its
# default 16: fewer thread wake-ups per image (README, Data pipeline throughput).
TRAINING_QUEUE_CAPACITY = 64


@contextmanager
def pipeline_settings(queue_rows: int = TRAINING_QUEUE_CAPACITY) -> Iterator[None]:
    """Within the block MindSpore's data pipelines hold ``queue_rows`` rows per stage (its prefetch size; a
    training run reseeds the engine every epoch too); both settings are put back afterwards."""
    saved = ds.config.get_prefetch_size(), ds.config.get_seed()
    ds.config.set_prefetch_size(queue_rows)
    try:
        yield
    finally:
        ds.config.set_prefetch_size(saved[0])
        ds.config.set_seed(saved[1])


def transforms_for(c: Namespace, is_training: bool):
    """The transforms of the options, ending at HWC images (the networks normalise on the device)."""
    return create_transforms(c.dataset, c.image_resize, is_training, c.auto_augment, separate=c.aug_splits > 0,
                             scale=c.scale, ratio=c.ratio, hflip=c.hflip, vflip=c.vflip, color_jitter=c.color_jitter,
                             interpolation=c.interpolation, mean=c.mean, std=c.std, re_prob=c.re_prob,
                             re_scale=c.re_scale, re_ratio=c.re_ratio, re_value=c.re_value,
                             re_max_attempts=c.re_max_attempts, crop_pct=c.crop_pct, normalize=False)


def build_runtime(c: Namespace) -> Runtime:
    """The device, execution mode, seeds and data-parallel group the options ask for."""
    return setup_runtime(c.device_target, c.mode, c.jit_level, c.seed, c.distribute)


@dataclass(frozen=True)
class RunSettings:
    """What a training run does around its parts, read from the options once: where it writes, what it starts
    from, how often it validates, saves and logs, and what it tracks."""
    model: str
    epochs: int
    batch_size: int  # per device
    seed: int
    ema: bool  # validation and best.ckpt use the EMA weights
    save_dir: str
    overwrite: bool
    checkpoint: str  # ckpt_path: weights to start from, or with ``resume`` the checkpoint to resume
    resume: bool
    val_interval: int
    save_interval: int
    keep_checkpoint_max: int
    save_policy: str
    log_interval: int
    max_nonfinite_steps: int
    tracking: Dict[str, Any]  # the keyword arguments of engine.tracking.open_trackers
    options: Dict[str, Any]  # every option, as MLflow's params
    options_yaml: str  # every option, as saved in config.yaml and in the checkpoints


def run_settings(c: Namespace) -> RunSettings:
    """The settings of the training run the options describe."""
    return RunSettings(
        model=c.model, epochs=c.epoch_size, batch_size=c.batch_size, seed=c.seed, ema=c.ema,
        save_dir=c.ckpt_save_dir, overwrite=c.overwrite, checkpoint=c.ckpt_path, resume=bool(c.resume_opt),
        val_interval=c.val_interval, save_interval=c.ckpt_save_interval, keep_checkpoint_max=c.keep_checkpoint_max,
        save_policy=c.ckpt_save_policy, log_interval=c.log_interval, max_nonfinite_steps=c.max_nonfinite_steps,
        tracking=dict(tensorboard=c.tensorboard, mlflow=c.mlflow, mlflow_tracking_uri=c.mlflow_tracking_uri,
                      mlflow_experiment=c.mlflow_experiment),
        options=dict(vars(c)), options_yaml=dump_config(c))


def check_training_data(c: Namespace) -> None:
    """Before a run writes anything: the split folders it reads exist (the data set's name was checked with the
    options)."""
    if c.dataset.lower() != "fashion_mnist":
        for split in [c.train_split] + ([c.val_split] if c.val_while_train else []):
            check_split_folder(c.data_dir, split)


def build_val_loader(c: Namespace, runtime: Runtime) -> Tuple[object, List[str], int]:
    """Validation loader over this rank's disjoint shard (every image once), its class names and batch count."""
    dataset = create_dataset(c.dataset, c.data_dir, c.val_split, shuffle=False, num_samples=c.val_num_samples,
                             num_shards=runtime.group_size, shard_id=runtime.rank,
                             num_parallel_workers=c.num_parallel_workers, seed=c.seed, class_split=c.train_split,
                             equal_shards=False)
    loader = create_loader(dataset, c.batch_size, drop_remainder=False, is_training=False,
                           transform=transforms_for(c, False), num_parallel_workers=c.num_parallel_workers)
    batches = -(-len(dataset.shard_sampler) // c.batch_size)
    return loader, list(dataset.class_names), batches


def _log_options_without_effect(c: Namespace, model: nn.Cell) -> None:
    notes = {"drop_path_rate": c.drop_path_rate is not None and not getattr(model, "drop_path_rate", None),
             "aux_factor": c.aux_factor > 0, "eval_shuffle": c.eval_shuffle, "backend": c.backend != "mindspore"}
    for name, applies in notes.items():
        if applies:
            _logger.warning("Option %s=%r has no effect here: %s.", name, getattr(c, name),
                            {"drop_path_rate": f"{c.model} has no stochastic depth",
                             "aux_factor": "the model has no auxiliary logits",
                             "eval_shuffle": "validation metrics do not depend on the order",
                             "backend": "training and its validation run MindSpore (validate.py uses it)"}[name])
    if c.dataset_sink_mode:
        _logger.info("dataset_sink_mode: batches are fed from the host by the training loop (same numbers).")


def build_model(c: Namespace, runtime: Runtime, num_classes: int, checkpoint: str = "", fine_tune: bool = False,
                ema: bool = False):
    """The model of the options with its weights: pretrained (``pretrained`` True or a tag; ``checkpoint`` then
    replaces the download), or ``checkpoint`` alone (strictly; its EMA weights with ``ema``; with ``fine_tune`` a
    classifier of another size is replaced by a fresh one, logged). In data-parallel runs all ranks then hold
    the same weights."""
    options = dict(drop_rate=c.drop_rate, bn_momentum=c.bn_momentum)
    if c.pretrained:
        model = create_model(c.model, num_classes=num_classes, pretrained=c.pretrained, in_channels=c.in_channels,
                             checkpoint_path=checkpoint, ema=ema, **options)
    else:
        model = create_model(c.model, num_classes=num_classes, in_channels=c.in_channels, **options)
        if checkpoint:
            load_model_checkpoint(model, checkpoint, ema=ema, adapt_head=fine_tune)
    if runtime.distributed:
        average_parameters(list(model.get_parameters()), runtime.group_size)
    if c.float32_matmul_precision != "highest":
        model.set_float32_matmul_precision(c.float32_matmul_precision)
    return model


def eval_network(model: nn.Cell, mean, std, amp_level: str, amp_cast_list: Optional[str] = None) -> nn.Cell:
    """``model``'s logits from HWC images, at ``amp_level``."""
    return NormalizeInput(auto_mixed_precision(model, amp_level, amp_cast_list), mean, std)


@dataclass
class TrainingParts:
    """Everything a training run needs, built."""
    model: nn.Cell
    eval_network: nn.Cell
    step: TrainStep
    schedule: List[float]
    train_data: SplitDataset
    train_loader: object
    val_loader: Optional[object]
    val_batches: int
    class_names: List[str]
    steps_per_epoch: int


def build_training(c: Namespace, runtime: Runtime) -> TrainingParts:
    """Data, model, mixed-precision networks, schedule, optimizer, loss and train step of the options."""
    data = create_dataset(c.dataset, c.data_dir, c.train_split, shuffle=c.shuffle, num_samples=c.num_samples,
                          num_shards=runtime.group_size, shard_id=runtime.rank,
                          num_parallel_workers=c.num_parallel_workers, num_aug_repeats=c.aug_repeats, seed=c.seed,
                          equal_shards=True)
    class_names = list(data.class_names)
    num_classes = c.num_classes or len(class_names)
    if num_classes != len(class_names):
        raise ConfigError(f"The data set has {len(class_names)} classes but num_classes is {num_classes}; "
                          f"set --num_classes {len(class_names)}.")
    loader = create_loader(data, c.batch_size, drop_remainder=c.drop_remainder, is_training=True, mixup=c.mixup,
                           cutmix=c.cutmix, cutmix_prob=c.cutmix_prob, num_classes=num_classes,
                           transform=transforms_for(c, True), num_parallel_workers=c.num_parallel_workers,
                           python_multiprocessing=c.python_multiprocessing, separate=c.aug_splits > 0)
    steps_per_epoch = loader.get_dataset_size()
    if steps_per_epoch < c.gradient_accumulation_steps:
        raise ConfigError(f"{steps_per_epoch} steps per epoch is fewer than gradient_accumulation_steps "
                          f"{c.gradient_accumulation_steps}.")
    val_loader, val_batches = None, 0
    if c.val_while_train:
        val_loader, val_classes, val_batches = build_val_loader(c, runtime)
        if val_classes != class_names:
            raise ConfigError("Validation classes differ from training classes.")
    model = build_model(c, runtime, num_classes, "" if c.resume_opt else c.ckpt_path, fine_tune=True)
    _log_options_without_effect(c, model)
    # The dropout's masks are keyed by (seed, rank, step): the same run, also resumed, draws the same ones.
    rng_step = Parameter(Tensor(0, ms.int64), name="rng_step", requires_grad=False)
    model.use_keyed_dropout(c.seed + 1_000_003 * runtime.rank, rng_step)
    amp_network = auto_mixed_precision(model, c.amp_level, c.amp_cast_list)
    custom_step = require_customized_train_step(c.ema, c.clip_grad, c.gradient_accumulation_steps, c.amp_cast_list)
    scale = create_loss_scale(c.loss_scale_type, c.loss_scale, c.drop_overflow_update, c.amp_level, custom_step)
    schedule = create_scheduler(steps_per_epoch, c.scheduler, lr=c.lr, min_lr=c.min_lr, warmup_epochs=c.warmup_epochs,
                                warmup_factor=c.warmup_factor, decay_epochs=c.decay_epochs, decay_rate=c.decay_rate,
                                milestones=[int(m) for m in c.multi_step_decay_milestones], num_epochs=c.epoch_size,
                                num_cycles=c.num_cycles, cycle_decay=c.cycle_decay, lr_epoch_stair=c.lr_epoch_stair)
    optimizer = create_optimizer(model, c.opt, lr=schedule, weight_decay=c.weight_decay, momentum=c.momentum,
                                 nesterov=c.use_nesterov, weight_decay_filter=c.weight_decay_filter,
                                 layer_decay=c.layer_decay, loss_scale=scale.optimizer_scale, eps=c.eps)
    loss = create_loss(c.loss, reduction=c.reduction, label_smoothing=c.label_smoothing, aux_factor=c.aux_factor)
    train_network = LossNetwork(NormalizeInput(amp_network, c.mean, c.std), loss)
    step = TrainStep(train_network, optimizer, scale, model=model, clip_grad=c.clip_grad, clip_value=c.clip_value,
                     gradient_accumulation_steps=c.gradient_accumulation_steps, ema=c.ema, ema_decay=c.ema_decay,
                     rng_step=rng_step)
    step.set_train(True)
    if c.freeze_bn:
        _logger.info("freeze_bn: %d BatchNorm layers normalise with their moving statistics and keep them.",
                     freeze_batch_norm(model))
    return TrainingParts(model=model, eval_network=NormalizeInput(amp_network, c.mean, c.std), step=step,
                         schedule=schedule, train_data=data, train_loader=loader, val_loader=val_loader,
                         val_batches=val_batches, class_names=class_names, steps_per_epoch=steps_per_epoch)


@dataclass
class ValidationParts:
    """What an evaluation is made of, built."""
    loader: object
    batches: int
    batch_size: int
    class_names: List[str]
    model: object
    network: object  # the model behind its input normalisation, in MindSpore
    scorer: object  # ``network`` itself, or a function of uint8 batches (an exported backend, checked)
    backend: str  # "" for MindSpore, else the runner's name and precision
    reference: Optional[Tuple[Any, str]]  # int8: the fp32 export's (scorer, backend), scored beside it
    checkpoint: str  # the evaluated file ("" for published weights)
    checkpoint_meta: Dict[str, str]
    split: str  # what is evaluated: "<data_dir or data set>:<split>"
    calibrate: bool  # also fit a temperature


def _exported_scorer(c: Namespace, network: nn.Cell, model: nn.Cell, precision: str) -> Tuple[Any, str]:
    """The options' exported backend at ``precision``, checked against MindSpore on its first batch, and its
    name."""
    calibration = Calibration(c.calibration_dir, c.calibration_size) if precision == "int8" else None
    runner = create_runner(c.backend, network, model, c.mean, c.std, c.batch_size, c.image_resize,
                           weights_file=c.ckpt_path or None, cache_dir=c.export_dir or None, precision=precision,
                           calibration=calibration, preprocessing=evaluation_preprocessing(c))
    return checked_on_first_batch(runner, network, c.batch_size), f"{runner.name}, {runner.precision}"


def build_validation(c: Namespace, runtime: Runtime) -> ValidationParts:
    """The parts of the options' evaluation; a checkpoint trained on other class names is warned about."""
    if not c.ckpt_path and not c.pretrained:
        raise ConfigError("validate.py needs --ckpt_path <checkpoint file> (or --pretrained True); it never "
                          "evaluates random weights.")
    meta = checkpoint_metadata(read_checkpoint(c.ckpt_path)) if c.ckpt_path else {}
    loader, class_names, batches = build_val_loader(c, runtime)
    trained_classes = json.loads(meta["class_names"]) if "class_names" in meta else None
    if trained_classes is not None and trained_classes != class_names:
        _logger.warning("the checkpoint's class names differ from those of %s in %s; accuracy may be meaningless.",
                        c.val_split, c.data_dir or c.dataset)
    num_classes = c.num_classes or len(trained_classes or class_names)
    model = build_model(c, runtime, num_classes, c.ckpt_path, ema=c.ema)
    network = eval_network(model, c.mean, c.std, c.val_amp_level, c.amp_cast_list)
    scorer, backend, reference = network, "", None
    if c.backend != "mindspore":  # (precision bf16/int8 needs openvino: refused when the options are parsed)
        scorer, backend = _exported_scorer(c, network, model, c.precision)
        if c.precision == "int8":  # the fp32 export of the same graph: what quantizing cost
            reference = _exported_scorer(c, network, model, "fp32")
    return ValidationParts(loader, batches, c.batch_size, class_names, model, network, scorer, backend, reference,
                           c.ckpt_path, meta, f"{c.data_dir or c.dataset}:{c.val_split}", c.calibrate)
