"""Record MindCV 0.3.0's results for the golden grid of ``tests/golden_cases.py``.

Run it in a virtual environment that holds MindCV itself, never this project (both packages are named
``mindcv``)::

    python3 -m venv /tmp/mindcv030 && /tmp/mindcv030/bin/pip install mindspore==2.7.0 mindcv==0.3.0
    /tmp/mindcv030/bin/python scripts/record_mindcv_golden.py        # rewrites tests/fixtures/mindcv_golden.json

The recipe step is kept per CPU instruction set (``golden_cases.cpu_isa``); ``--recipe-step-only`` records just
this machine's, beside the others'.

(``benchmarks/make_peer_envs.sh`` makes the same venv in ``benchmarks/.envs/mindcv030``.) A call that MindCV
refuses is recorded with the exception type, so the tests can check that it is refused here too or that
the README lists the difference.
"""
import argparse
import json
import logging
import random
import sys
import traceback
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import golden_cases as cases  # (plain module: no mindcv import of its own)

import mindcv  # (MindCV's package in this venv)
from mindcv.data import create_transforms
from mindcv.data.mixup import Mixup
from mindcv.loss import create_loss
from mindcv.models import create_model
from mindcv.optim import create_optimizer
from mindcv.scheduler import create_scheduler, dynamic_lr
from mindcv.utils import create_trainer, get_metrics


def _guard(function):
    try:
        return function()
    except Exception as exc:  # record MindCV's refusal, whatever its type
        return {"error": type(exc).__name__, "message": str(exc).strip().splitlines()[0][:200] if str(exc) else ""}


def record_schedules():
    out = []
    for case in cases.SCHEDULE_CASES:
        out.append({"case": case, "result": _guard(lambda case=case: [float(v) for v in create_scheduler(**case)])})
    return out


def record_dynamic_lr():
    return [{"case": case, "result": _guard(lambda case=case: [float(v) for v in getattr(dynamic_lr, case["name"])(
        *case["args"], **case["kwargs"])])} for case in cases.DYNAMIC_LR_CASES]


def _trajectory(case):
    return [{name: values.tolist() for name, values in step.items()}
            for step in cases.run_optimizer_case(case, create_optimizer)]


def record_optimizers():
    return [{"case": case, "result": _guard(lambda case=case: _trajectory(case))} for case in cases.OPTIMIZER_CASES]


def record_losses():
    return [{"case": case, "result": _guard(lambda case=case: cases.run_loss_case(case, create_loss).tolist())}
            for case in cases.LOSS_CASES]


def _run_transforms(case):
    ops = create_transforms(*case["args"], **case["kwargs"])
    names = [type(op).__name__ for op in ops]
    image = cases.transform_input(case)
    random.seed(0)
    np.random.seed(0)
    for op in ops:
        image = op(image)
    result = {"ops": names, "shape": list(np.shape(image)), "dtype": str(np.asarray(image).dtype)}
    if not case["kwargs"].get("is_training", len(case["args"]) > 2 and case["args"][2]):
        result["values"] = cases.summarise(image)
    return result


def record_transforms():
    return [{"case": case, "result": _guard(lambda case=case: _run_transforms(case))} for case in cases.TRANSFORM_CASES]


def _run_mix(case):
    images, labels = cases.mix_batch()
    mixer = Mixup(mixup_alpha=case["mixup"], cutmix_alpha=case["cutmix"], cutmix_minmax=None,
                  prob=case["cutmix_prob"], switch_prob=0.5, label_smoothing=0.0, num_classes=5)
    np.random.seed(cases.MIX_SEED)
    draws = []
    for _ in range(cases.MIX_DRAWS):
        mixed, target = mixer(images.copy(), labels.copy())
        draws.append({"images": cases.summarise(mixed), "target": np.asarray(target, float).ravel().tolist()})
    return draws


def record_mixing():
    return [{"case": case, "result": _guard(lambda case=case: _run_mix(case))} for case in cases.MIX_CASES]


def record_models():
    positional = create_model("xception", 10)
    return {"create_model('xception', 10)": {"classifier.weight": list(positional.classifier.weight.shape)}}


def record_recipe_step(amp_level: str, mode: int):
    """RECIPE_STEPS steps of MindCV's train.py path on the recipe batch, normalised in the pipeline as MindCV's
    transforms end (Normalize, HWC2CHW); what the steps changed in every parameter, as sketches."""
    r = cases.RECIPE
    ms.set_context(mode=mode)
    network = create_model("xception", num_classes=cases.RECIPE_NUM_CLASSES)
    network.dropout = nn.Identity()  # MindCV's Xception always drops 0.5: removed on both sides for comparison
    for param in network.get_parameters():
        param.set_data(ms.Tensor(cases.deterministic_value(param.name, param.shape)))
    loss = create_loss(name=r["loss"], reduction="mean", label_smoothing=r["label_smoothing"], aux_factor=0.0)
    schedule = create_scheduler(r["steps_per_epoch"], scheduler=r["scheduler"], lr=r["lr"], min_lr=r["min_lr"],
                                warmup_epochs=r["warmup_epochs"], warmup_factor=r["warmup_factor"],
                                decay_epochs=r["decay_epochs"], decay_rate=0.9, milestones=[30, 60, 90],
                                num_epochs=r["num_epochs"], num_cycles=1, cycle_decay=1.0, lr_epoch_stair=False)
    # train.py: the optimizer carries the fixed loss scale when no customised train step is needed.
    optimizer = create_optimizer(network, opt=r["opt"], lr=schedule, weight_decay=r["weight_decay"],
                                 momentum=r["momentum"], nesterov=r["use_nesterov"],
                                 weight_decay_filter=r["weight_decay_filter"], layer_decay=None,
                                 loss_scale=r["loss_scale"], eps=1e-10)
    trainer = create_trainer(network, loss, optimizer, get_metrics(cases.RECIPE_NUM_CLASSES), amp_level=amp_level,
                             amp_cast_list=None, loss_scale_type=r["loss_scale_type"], loss_scale=r["loss_scale"],
                             drop_overflow_update=r["drop_overflow_update"])
    step = trainer._train_network
    step.set_train(True)
    batch, labels = cases.recipe_normalised_batch()
    losses = [float(step(ms.Tensor(batch), ms.Tensor(labels)).asnumpy()) for _ in range(cases.RECIPE_STEPS)]
    updates = {p.name: cases.update_sketch(p.name, p.asnumpy() - cases.deterministic_value(p.name, p.shape))
               for p in network.get_parameters()}
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return {"losses": losses, "lr": [float(v) for v in schedule[: cases.RECIPE_STEPS]], "updates": updates}


def record_recipe_steps(previous: dict) -> dict:
    """The recipe step for this CPU's instruction set, beside those recorded on others."""
    steps = dict(previous.get("recipe_step", {}))
    steps[cases.cpu_isa()] = {run: record_recipe_step(*setting) for run, setting in cases.RECIPE_RUNS.items()}
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description="Record MindCV 0.3.0's results into the golden fixture.")
    parser.add_argument("--recipe-step-only", action="store_true",
                        help="record only this CPU instruction set's recipe step, keeping the rest of the file")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    ms.set_device("CPU")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    previous = cases.load_fixture() if cases.FIXTURE.exists() else {}
    if args.recipe_step_only:
        previous["recipe_step"] = record_recipe_steps(previous)
        cases.FIXTURE.write_text(json.dumps(previous, indent=1) + "\n")
        print(f"wrote the {cases.cpu_isa()} recipe step into {cases.FIXTURE}")
        return 0
    fixture = {
        "recorded_with": {"mindcv": mindcv.__version__, "mindspore": ms.__version__},
        "schedules": record_schedules(),
        "dynamic_lr": record_dynamic_lr(),
        "optimizers": record_optimizers(),
        "losses": record_losses(),
        "transforms": record_transforms(),
        "mixing": record_mixing(),
        "models": record_models(),
        "recipe_step": record_recipe_steps(previous),
    }
    cases.FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    refused = sum(1 for part in ("schedules", "dynamic_lr", "optimizers", "losses", "transforms", "mixing")
                  for row in fixture[part] if isinstance(row["result"], dict) and "error" in row["result"])
    total = sum(len(fixture[part]) for part in ("schedules", "dynamic_lr", "optimizers", "losses", "transforms",
                                                "mixing"))
    print(f"wrote {cases.FIXTURE}: {total} cases ({refused} refused by MindCV) plus models and the recipe step")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
