"""The grid of MindCV factory calls whose results ``tests/fixtures/mindcv_golden.json`` records.

Shared by ``scripts/record_mindcv_golden.py`` (run in a venv holding MindCV 0.3.0, which records the
fixture) and by the tests that compare this project against it. It imports MindSpore and numpy only, never
a ``mindcv`` package, because the name means MindCV in the recording venv and this project in the tests.
"""
import itertools
import json
import zlib
from pathlib import Path
from typing import Dict, List

import numpy as np
from mindspore import nn

FIXTURE = Path(__file__).parent / "fixtures" / "mindcv_golden.json"

# Schedules: 9 schedulers x warmup 0 / 2 epochs x per-step / per-epoch values, and cosine restarts.
_SCHEDULE_BASE = dict(steps_per_epoch=3, lr=0.1, min_lr=0.001, warmup_factor=0.1, decay_epochs=3, decay_rate=0.5,
                      milestones=[2, 4], num_epochs=7)
SCHEDULERS = ("constant", "cosine_decay", "warmup_cosine_decay", "exponential_decay", "polynomial_decay",
              "step_decay", "multi_step_decay", "one_cycle", "cyclic")
SCHEDULE_CASES: List[Dict] = [
    dict(_SCHEDULE_BASE, scheduler=name, warmup_epochs=warmup, lr_epoch_stair=stair)
    for name, warmup, stair in itertools.product(SCHEDULERS, (0, 2), (False, True))
] + [
    dict(_SCHEDULE_BASE, scheduler="cosine_decay", warmup_epochs=1, num_cycles=2, cycle_decay=0.5, decay_epochs=2,
         num_epochs=9),
    dict(_SCHEDULE_BASE, scheduler="cyclic", warmup_epochs=0, num_cycles=3),
]

# Optimizers: every optimizer x weight-decay filter, plus Nesterov, a fixed loss scale carried by the
# optimizer, layer decay (a Cell passed in) and a constant learning rate.
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "lion", "rmsprop", "adagrad", "lamb", "nadam", "adan")
_OPT_BASE = dict(weight_decay=0.1, momentum=0.8, nesterov=False, weight_decay_filter="disable", loss_scale=1.0,
                 eps=1e-6, lr="schedule", layer_decay=None)
OPTIMIZER_CASES: List[Dict] = (
    [dict(_OPT_BASE, opt=opt, weight_decay_filter=wdf)
     for opt, wdf in itertools.product(OPTIMIZERS, ("disable", "auto", "norm_and_bias"))]
    + [dict(_OPT_BASE, opt=opt, nesterov=True) for opt in ("sgd", "momentum", "adam")]
    + [dict(_OPT_BASE, opt=opt, loss_scale=4.0) for opt in ("sgd", "momentum", "adam", "rmsprop", "nadam", "adan")]
    + [dict(_OPT_BASE, opt=opt, layer_decay=0.5) for opt in ("momentum", "adamw")]
    + [dict(_OPT_BASE, opt=opt, lr="constant") for opt in ("momentum", "adam", "adamw")]
)
OPT_LR_SCHEDULE = [0.1, 0.05, 0.02]
OPT_LR_CONSTANT = 0.05


class TinyNet(nn.Cell):
    """Parameters named like a real model's: conv (4-D), BatchNorm gamma/beta (1-D), dense weight/bias."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, has_bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.dense = nn.Dense(2, 3)

    def construct(self, x):
        return self.dense(self.bn(self.conv(x)).mean(axis=(2, 3)))


def tiny_initial_values() -> Dict[str, np.ndarray]:
    """Initial values of TinyNet's trainable parameters (all non-zero, so decay is visible)."""
    shapes = {"conv.weight": (2, 3, 1, 1), "bn.gamma": (2,), "bn.beta": (2,), "dense.weight": (3, 2),
              "dense.bias": (3,)}
    rng = np.random.default_rng(7)
    return {name: rng.uniform(0.5, 1.5, shape).astype(np.float32) * rng.choice([-1, 1], shape)
            for name, shape in shapes.items()}


def run_optimizer_case(case: Dict, create_optimizer, **override) -> List[Dict[str, np.ndarray]]:
    """The parameters of TinyNet after each of OPT_STEPS updates with ``create_optimizer`` (MindCV's or ours)."""
    import mindspore as ms

    case = dict(case, **override)
    net = TinyNet()
    for param in net.trainable_params():
        param.set_data(ms.Tensor(tiny_initial_values()[param.name]))
    lr = list(OPT_LR_SCHEDULE) if case["lr"] == "schedule" else OPT_LR_CONSTANT
    optimizer = create_optimizer(net, opt=case["opt"], lr=lr, weight_decay=case["weight_decay"],
                                 momentum=case["momentum"], nesterov=case["nesterov"],
                                 weight_decay_filter=case["weight_decay_filter"], layer_decay=case["layer_decay"],
                                 loss_scale=case["loss_scale"], eps=case["eps"])
    trajectory = []
    for step in range(OPT_STEPS):
        grads = tiny_gradients(step, case["loss_scale"])
        optimizer(tuple(ms.Tensor(grads[p.name]) for p in net.trainable_params()))
        trajectory.append({p.name: p.asnumpy().astype(np.float64).ravel() for p in net.trainable_params()})
    return trajectory


def tiny_gradients(step: int, loss_scale: float) -> Dict[str, np.ndarray]:
    """The gradient fed for ``step`` (times ``loss_scale``, as a scaled backward pass would produce it)."""
    rng = np.random.default_rng(100 + step)
    return {name: (rng.normal(0.0, 1.0, value.shape) * loss_scale).astype(np.float32)
            for name, value in tiny_initial_values().items()}


OPT_STEPS = 3

# MindCV's dynamic_lr functions: (name, positional arguments, keywords).
DYNAMIC_LR_CASES: List[Dict] = [
    dict(name="constant_lr", args=[0.5, 4], kwargs=dict(lr=0.05, steps_per_epoch=2, epochs=10)),
    dict(name="linear_lr", args=[0.5, 1.0, 4], kwargs=dict(lr=0.05, steps_per_epoch=3, epochs=7)),
    dict(name="linear_refined_lr", args=[0.1, 1.0, 3], kwargs=dict(lr=0.05, steps_per_epoch=3, epochs=7)),
    dict(name="polynomial_lr", args=[4, 2.0], kwargs=dict(lr=0.05, steps_per_epoch=2, epochs=6)),
    dict(name="polynomial_refined_lr", args=[4, 0.5], kwargs=dict(lr=0.05, steps_per_epoch=3, epochs=6)),
    dict(name="exponential_lr", args=[0.9], kwargs=dict(lr=0.05, steps_per_epoch=2, epochs=5)),
    dict(name="exponential_refined_lr", args=[0.8], kwargs=dict(lr=0.05, steps_per_epoch=3, epochs=5)),
    dict(name="step_lr", args=[3, 0.5], kwargs=dict(lr=0.05, steps_per_epoch=2, epochs=10)),
    dict(name="multi_step_lr", args=[[6, 3], 0.5], kwargs=dict(lr=0.05, steps_per_epoch=2, epochs=10)),
    dict(name="cosine_decay_lr", args=[3, 0.01], kwargs=dict(eta_max=0.1, steps_per_epoch=2, epochs=9, num_cycles=2,
                                                             cycle_decay=0.5)),
    dict(name="cosine_decay_refined_lr", args=[4, 0.01], kwargs=dict(eta_max=0.1, steps_per_epoch=3, epochs=6)),
    dict(name="cosine_annealing_lr", args=[5, 0.0], kwargs=dict(eta_max=1.0, steps_per_epoch=2, epochs=15)),
    dict(name="cosine_annealing_warm_restarts_lr", args=[3, 2, 0.1],
         kwargs=dict(eta_max=1.0, steps_per_epoch=2, epochs=12)),
    dict(name="one_cycle_lr", args=[2.5, 0.3, "cos", 25.0, 10000.0, False], kwargs=dict(steps_per_epoch=2, epochs=15)),
    dict(name="one_cycle_lr", args=[1.0, 0.25, "linear", 10.0, 100.0, True], kwargs=dict(steps_per_epoch=3, epochs=8)),
    dict(name="cyclic_lr", args=[0.1, 2.5, 5, 3, "triangular2", 1.0, None, "cycle"],
         kwargs=dict(steps_per_epoch=2, epochs=15)),
    dict(name="cyclic_lr", args=[0.1, 1.0, 4, None, "exp_range", 0.9, None, "cycle"],
         kwargs=dict(steps_per_epoch=2, epochs=10)),
]

# Losses: CE and BCE x smoothing x reduction x class weights x hard / soft targets, auxiliary logits, the
# asymmetric losses (multi-label: soft targets above 0.2 as the labels) and JSD (training: 6 logits, 3 splits).
LOSS_CASES: List[Dict] = [
    dict(name=name, label_smoothing=ls, reduction=red, weight=w, target=t, aux_factor=0.0)
    for name, ls, red, w, t in itertools.product(("CE", "BCE"), (0.0, 0.1), ("mean", "sum", "none"), (False, True),
                                                 ("hard", "soft"))
] + [dict(name=name, label_smoothing=0.1, reduction="mean", weight=False, target="hard", aux_factor=0.4)
     for name in ("CE", "BCE")] + [
    dict(name="asl_single_label", label_smoothing=ls, reduction="mean", weight=False, target="hard", aux_factor=0.0)
    for ls in (0.0, 0.1)
] + [dict(name="asl_multi_label", label_smoothing=0.0, reduction="mean", weight=False, target="multi", aux_factor=0.0),
     dict(name="jsd", label_smoothing=0.1, reduction="mean", weight=False, target="hard", aux_factor=0.0),
     dict(name="jsd", label_smoothing=0.1, reduction="mean", weight=False, target="hard", aux_factor=0.0, train=True)]


def run_loss_case(case: Dict, create_loss) -> np.ndarray:
    """The loss of ``case`` computed with ``create_loss`` (MindCV's or ours), flattened."""
    import mindspore as ms

    logits, aux, hard, soft, weight = loss_inputs()
    if case.get("train"):
        logits, hard = np.concatenate([logits, aux[:2]]), np.concatenate([hard, hard[:2]])
    loss = create_loss(name=case["name"], weight=ms.Tensor(weight) if case["weight"] else None,
                       reduction=case["reduction"], label_smoothing=case["label_smoothing"],
                       aux_factor=case["aux_factor"])
    loss.set_train(bool(case.get("train")))
    targets = {"hard": hard, "soft": soft, "multi": (soft > 0.2).astype(np.float32)}[case["target"]]
    inputs = (ms.Tensor(logits), ms.Tensor(aux)) if case["aux_factor"] > 0 else ms.Tensor(logits)
    return np.asarray(loss(inputs, ms.Tensor(targets)).asnumpy(), np.float64).ravel()


def loss_inputs():
    rng = np.random.default_rng(3)
    logits = rng.normal(0.0, 2.0, (4, 5)).astype(np.float32)
    aux = rng.normal(0.0, 2.0, (4, 5)).astype(np.float32)
    hard = np.array([0, 3, 4, 1], np.int32)
    soft = rng.dirichlet(np.ones(5), 4).astype(np.float32)
    weight = np.array([0.5, 1.0, 2.0, 1.5, 0.25], np.float32)
    return logits, aux, hard, soft, weight


# Transforms: the pipelines create_transforms returns for these arguments (op names, output shapes).
TRANSFORM_CASES: List[Dict] = [
    dict(args=["imagenet", 224], kwargs={}),
    dict(args=["imagenet", 224, True], kwargs={}),
    dict(args=[], kwargs=dict(dataset_name="imagenet", image_resize=299, is_training=True, auto_augment="autoaug",
                              re_prob=0.25, interpolation="bilinear")),
    dict(args=[], kwargs=dict(dataset_name="", image_resize=96, is_training=True, color_jitter=0.4, hflip=0.5,
                              vflip=0.5)),
    dict(args=[], kwargs=dict(dataset_name="imagenet", image_resize=96, is_training=False, crop_pct=0.9,
                              interpolation="bicubic")),
] + [dict(args=[], kwargs=dict(dataset_name="imagenet", image_resize=96, is_training=True, auto_augment=policy))
     for policy in ("randaug-m9-mstd0.5-inc1", "randaug-m9-mstd0.5", "randaug-m7-mstd0.5", "randaug-m9-n2-mstd0.5-inc1",
                    "randaug-m10-n3-w0-mstd0.5-mmax10-inc0", "autoaug-mstd0.5", "autoaugr", "3a", "augmix",
                    "augmix-m5-w4-d2", "trivialaugwide", "trivialaugwide-m20")] + [
    dict(args=[], kwargs=dict(dataset_name=name, image_resize=48, is_training=training), decoded=[32, 32, 3])
    for name in ("cifar10", "cifar100") for training in (True, False)
] + [dict(args=[], kwargs=dict(dataset_name="mnist", image_resize=48), decoded=[28, 28, 1])]


def transform_input(case: Dict) -> np.ndarray:
    """What a case's pipeline starts from: the sample JPEG's bytes, or (``decoded``: MNIST/CIFAR, which MindSpore's
    readers hand over decoded) its top-left pixels of that shape."""
    if "decoded" not in case:
        return np.frombuffer(sample_jpeg_bytes(), np.uint8)
    from io import BytesIO

    from PIL import Image

    height, width, channels = case["decoded"]
    image = np.asarray(Image.open(BytesIO(sample_jpeg_bytes())).convert("RGB"))[:height, :width]
    return np.ascontiguousarray(image[..., :channels])


def sample_jpeg_bytes() -> bytes:
    """A deterministic 120x90 JPEG (smooth gradients plus noise) for the evaluation-pipeline values."""
    from io import BytesIO

    from PIL import Image

    y, x = np.mgrid[0:90, 0:120]
    rng = np.random.default_rng(11)
    image = np.stack([x * 2, y * 2, (x + y)], axis=-1) + rng.integers(0, 30, (90, 120, 3))
    buffer = BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


# Mixup / CutMix of one batch with numpy's RNG seeded by MIX_SEED (MindCV's Mixup draws from np.random).
MIX_CASES: List[Dict] = [dict(mixup=0.8, cutmix=0.0, cutmix_prob=1.0), dict(mixup=0.0, cutmix=1.0, cutmix_prob=1.0),
                         dict(mixup=0.8, cutmix=1.0, cutmix_prob=1.0), dict(mixup=0.8, cutmix=1.0, cutmix_prob=0.5)]
MIX_SEED = 5
MIX_DRAWS = 4


def mix_batch():
    rng = np.random.default_rng(4)
    return rng.normal(0, 1, (4, 3, 8, 8)).astype(np.float32), np.array([1, 0, 3, 2], np.int32)


# Training steps of the upstream Xception recipe (configs/xception/xception_ascend.yaml) on tiny input.
RECIPE = dict(opt="sgd", lr=0.045, min_lr=0.0, warmup_epochs=5, warmup_factor=0.0, decay_epochs=195, num_epochs=200,
              scheduler="warmup_cosine_decay", momentum=0.9, weight_decay=1e-5, use_nesterov=False,
              weight_decay_filter="disable", loss="CE", label_smoothing=0.1, loss_scale_type="fixed",
              loss_scale=1024.0, drop_overflow_update=False, steps_per_epoch=2)
RECIPE_STEPS = 4
# (amp level, MindSpore mode): the recipe's O2 in graph mode, and float32 in PyNative mode (where a last-bit
# difference in the inputs shows: float16 rounds it away)
RECIPE_RUNS = {"O2-graph": ("O2", 0), "O0-pynative": ("O0", 1)}
RECIPE_NUM_CLASSES = 10
RECIPE_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]  # MindCV's ImageNet defaults, on 0-255 pixels
RECIPE_STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]
SKETCH_DIRECTIONS = 4


def recipe_batch():
    """Two 71x71 RGB images as the pipeline hands them over before normalisation (HWC uint8), and labels."""
    rng = np.random.default_rng(21)
    return rng.integers(0, 256, (2, 71, 71, 3), dtype=np.uint8), np.array([1, 7], np.int32)


def recipe_normalised_batch():
    """The recipe batch as MindCV's pipeline hands it to the network: MindSpore's Normalize, then HWC2CHW."""
    from mindspore.dataset import vision

    images, labels = recipe_batch()
    normalize, to_chw = vision.Normalize(RECIPE_MEAN, RECIPE_STD), vision.HWC2CHW()
    return np.stack([to_chw(normalize(image)) for image in images]), labels


def update_sketch(name: str, update: np.ndarray) -> Dict:
    """What a training step changed in parameter ``name``, compactly: its largest magnitude, its norm and its
    projections on SKETCH_DIRECTIONS fixed random directions (seeded by the name). Sketches are linear, so the
    projections of two updates' difference are the difference of their projections, and their norm over the
    update's estimates ``|ours - reference| / |reference|`` for the whole tensor."""
    flat = np.asarray(update, np.float64).ravel()
    directions = np.random.default_rng(zlib.crc32(name.encode())).standard_normal((SKETCH_DIRECTIONS, flat.size))
    return {"max_abs": float(np.abs(flat).max()), "norm": float(np.linalg.norm(flat)),
            "projections": (directions @ flat).tolist()}


def sketch_difference(ours: Dict, reference: Dict) -> float:
    """Relative difference of two updates from their sketches (0 for equal updates, ~1 for unrelated ones)."""
    scale = max(np.linalg.norm(reference["projections"]), 1e-30)
    projections = np.linalg.norm(np.subtract(ours["projections"], reference["projections"])) / scale
    size = abs(ours["max_abs"] - reference["max_abs"]) / max(reference["max_abs"], 1e-30)
    return float(max(projections, size))


def deterministic_value(name: str, shape) -> np.ndarray:
    """A value for parameter ``name`` that depends only on its name and shape (same on both sides)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "gamma":
        return rng.uniform(0.7, 1.3, shape).astype(np.float32)
    if leaf in ("beta", "moving_mean", "bias"):
        return rng.normal(0.0, 0.1, shape).astype(np.float32)
    if leaf == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return (rng.normal(0.0, 1.0, shape) * np.sqrt(1.0 / fan_in)).astype(np.float32)


def summarise(value: np.ndarray) -> Dict:
    """A compact, comparison-ready description of an array."""
    flat = np.asarray(value, dtype=np.float64).ravel()
    return {"sum": float(flat.sum()), "sumsq": float((flat ** 2).sum()), "head": flat[:8].tolist()}


def load_fixture() -> Dict:
    return json.loads(FIXTURE.read_text())


def cpu_isa() -> str:
    """The vector instruction set MindSpore's CPU operators run on this machine: "avx512" or "avx2". The recipe
    step is recorded per instruction set: their kernels round differently in the last bits, which four steps on
    two images amplify beyond the comparison's tolerance (seen: 7% on AVX2 against the AVX-512 recording)."""
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    return "avx512" if "avx512f" in flags else "avx2"


def recipe_step_fixture(run: str) -> Dict:
    """MindCV's recorded recipe step ``run`` for this machine's instruction set (cpu_isa)."""
    recorded = load_fixture()["recipe_step"]
    if cpu_isa() not in recorded:
        raise LookupError(f"no MindCV recipe step recorded for {cpu_isa()} CPUs (recorded: {', '.join(recorded)}); "
                          "record it on one with `python scripts/record_mindcv_golden.py --recipe-step-only` in "
                          "a venv holding MindCV 0.3.0")
    return recorded[cpu_isa()][run]
