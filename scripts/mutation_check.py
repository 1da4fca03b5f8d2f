"""Mutation check: does the suite notice a one-line bug in the numerical core or the fault handling?

    python scripts/mutation_check.py                 # every mutation, table on stdout
    python scripts/mutation_check.py --only ema      # mutations whose description or file contains "ema"
    python scripts/mutation_check.py --list
    python scripts/mutation_check.py --json mutations.json

Each mutation replaces one exact line fragment of one module (it must occur exactly once) in a copy of the
working tree, then runs only the test files that mirror that module (``pytest -x``). A mutation is *caught*
when those tests fail, *survived* when they pass. Before the mutations, each test selection runs once
unmutated and must pass, so a caught mutation is never a test that fails anyway. Not part of CI: a full run
takes about half an hour on two cores.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """``old`` -> ``new`` in ``module``, expected to be caught by ``tests``."""
    description: str
    module: str
    old: str
    new: str
    tests: Tuple[str, ...]


def _m(description: str, module: str, old: str, new: str, *tests: str) -> Mutation:
    return Mutation(description, module, old, new, tests)


TRAIN_STEP = "mindcv/engine/train_step.py"
STEP_TESTS = ("tests/engine/test_train_step.py",)
OPTIM_TESTS = ("tests/optim/test_optim_factory.py",)
SCHED_TESTS = ("tests/scheduler/test_scheduler_factory.py", "tests/scheduler/test_dynamic_lr.py")
LOSS_TESTS = ("tests/loss/test_loss_factory.py",)

MUTATIONS: List[Mutation] = [
    # the train step
    _m("EMA: decay and 1 - decay swapped", TRAIN_STEP,
       "ema_param * decay + ops.cast(param, ops.dtype(ema_param)) * (1.0 - decay)",
       "ema_param * (1.0 - decay) + ops.cast(param, ops.dtype(ema_param)) * decay", *STEP_TESTS),
    _m("EMA: no warm-up of the decay", TRAIN_STEP,
       "decay = self.ema_decay * (1.0 - ops.exp(-updates / 2000.0))", "decay = self.ema_decay * 1.0", *STEP_TESTS),
    _m("gradient clipping is a no-op", TRAIN_STEP,
       "grads = ops.clip_by_global_norm(grads, self.clip_value)", "grads = grads", *STEP_TESTS),
    _m("accumulation sums gradients without dividing by N", TRAIN_STEP,
       "return ops.assign_add(accum, grad / steps)", "return ops.assign_add(accum, grad)", *STEP_TESTS),
    _m("accumulation applies one micro-batch early", TRAIN_STEP,
       "if count >= self.accumulate_steps:", "if count >= self.accumulate_steps - 1:", *STEP_TESTS),
    _m("loss-scaled gradients are not unscaled", TRAIN_STEP,
       "return grad * ops.cast(ops.reciprocal(scale), ops.dtype(grad))", "return grad", *STEP_TESTS),
    _m("an overflowing step is applied anyway", TRAIN_STEP,
       "            if not overflow:\n                loss = self._apply(loss, grads)",
       "            loss = self._apply(loss, grads)", *STEP_TESTS),
    _m("the non-finite run counter never resets", TRAIN_STEP,
       "(self.stat_nonfinite_run + 1.0) * (1.0 - finite)", "(self.stat_nonfinite_run + 1.0 - finite)", *STEP_TESTS),
    _m("fixed loss scale handed to the optimizer is not divided out", TRAIN_STEP,
       "return LossScale(loss_scale, 1.0 if custom_step else loss_scale)", "return LossScale(loss_scale, 1.0)",
       *STEP_TESTS),
    # optimizers
    _m("AdamW without bias correction of the first moment", "mindcv/optim/adamw.py",
       "update = (m / (1.0 - beta1_power))", "update = (m / 1.0)", *OPTIM_TESTS),
    _m("Lion updates its moment with beta1 instead of beta2", "mindcv/optim/lion.py",
       "ops.assign(moment, self.beta2 * moment + (1.0 - self.beta2) * grad)",
       "ops.assign(moment, self.beta1 * moment + (1.0 - self.beta1) * grad)", *OPTIM_TESTS),
    _m("NAdam drops the gradient term", "mindcv/optim/nadam.py",
       "nesterov_m = mu_next * m / (1.0 - mu_schedule_next) + (1.0 - mu) * grad / (1.0 - mu_schedule)",
       "nesterov_m = mu_next * m / (1.0 - mu_schedule_next)", *OPTIM_TESTS),
    _m("Adan ignores the group's weight decay", "mindcv/optim/adan.py",
       "decay = decays[i] * self.reciprocal_scale if self.decay_flags[i] else 0.0",
       "decay = 0.0", *OPTIM_TESTS),
    _m("weight_decay_filter auto also exempts biases", "mindcv/optim/optim_factory.py",
       'for part in ("beta", "gamma", "bias"))', 'for part in ("beta", "gamma"))', *OPTIM_TESTS),
    # schedules
    _m("cosine decay uses a half-period too long", "mindcv/scheduler/dynamic_lr.py",
       "(1.0 + math.cos(math.pi * min(epoch, decay_epochs)", "(1.0 + math.cos(0.5 * math.pi * min(epoch, decay_epochs)",
       *SCHED_TESTS),
    _m("warmup ignores warmup_factor", "mindcv/scheduler/scheduler_factory.py",
       "rates = warmup(warmup_factor, 1.0, warmup_epochs,", "rates = warmup(0.0, 1.0, warmup_epochs,", *SCHED_TESTS),
    _m("step_decay decays every epoch", "mindcv/scheduler/dynamic_lr.py",
       "lr * gamma ** math.floor(epoch / step_size)", "lr * gamma ** math.floor(epoch)", *SCHED_TESTS),
    # losses
    _m("cross-entropy ignores label_smoothing", "mindcv/loss/cross_entropy_smooth.py",
       "label_smoothing=self.smoothing)", "label_smoothing=0.0)", *LOSS_TESTS),
    _m("auxiliary logits are not weighted by aux_factor", "mindcv/loss/cross_entropy_smooth.py",
       "loss = loss + self.aux_factor * self._single(aux, labels)", "loss = loss + self._single(aux, labels)",
       *LOSS_TESTS),
    _m("BCE smoothing divides by 2 instead of the class count", "mindcv/loss/binary_cross_entropy_smooth.py",
       "labels = labels * (1 - self.smoothing) + self.smoothing / num_classes",
       "labels = labels * (1 - self.smoothing) + self.smoothing / 2", *LOSS_TESTS),
    # data order and augmentation
    _m("every rank reads shard 0", "mindcv/data/sampler.py",
       "        return draws[self._shard_id:: self._num_shards]\n", "        return draws[0:: self._num_shards]\n",
       "tests/data/test_sampler.py"),
    _m("the epoch order ignores the epoch", "mindcv/data/sampler.py",
       "np.random.default_rng([self._seed, epoch])", "np.random.default_rng([self._seed, 0])",
       "tests/data/test_sampler.py"),
    _m("sample keys ignore the draw's epoch", "mindcv/data/sources.py",
       "return (seed % (1 << 31)) << 32 | (draw % (1 << 32))", "return (seed % (1 << 31)) << 32 | 0",
       "tests/data/test_sources.py", "tests/data/test_loader.py"),
    _m("horizontal flip never happens", "mindcv/data/transforms_factory.py",
       "primary.append(vision.RandomHorizontalFlip(prob=hflip))",
       "primary.append(vision.RandomHorizontalFlip(prob=0.0))",
       "tests/data/test_transforms_factory.py"),
    _m("evaluation resize ignores crop_pct", "mindcv/data/transforms_factory.py",
       "scale_size = int(image_resize / crop_pct)", "scale_size = int(image_resize)",
       "tests/data/test_transforms_factory.py"),
    _m("CutMix keeps the drawn lam instead of the pasted area", "mindcv/data/mixup.py",
       "lam = 1.0 - (bottom - top) * (right - left) / float(height * width)", "lam = lam",
       "tests/data/test_mixup.py"),
    # loading, checkpoints, resume, evaluation
    _m("strict loading ignores missing parameters", "mindcv/models/helpers.py",
       "missing = sorted(k for k in model_params if k not in state and k not in skipped)", "missing = []",
       "tests/models/test_helpers.py"),
    _m("checkpoint metadata records the epoch off by one", "mindcv/run/checkpoints.py",
       'return {"epoch": epoch, "global_step": global_step,', 'return {"epoch": epoch - 1, "global_step": global_step,',
       "tests/run/test_checkpoints.py", "tests/test_train.py"),
    _m("resume restarts the global step at 0", "mindcv/run/checkpoints.py",
       'global_step=int(meta["global_step"]))', "global_step=0)",
       "tests/run/test_checkpoints.py", "tests/test_train.py"),
    _m("evaluation counts unreadable images (label -1)", "mindcv/engine/evaluate.py",
       "readable = labels >= 0", "readable = labels >= -1", "tests/engine/test_evaluate.py"),
    # refusing bad input, leaving no stray files
    _m("a YAML key set twice silently takes its last value", "mindcv/config.py",
       "            if key in seen:", "            if False:", "tests/test_config.py"),
    _m("std may be 0 (inputs become infinite)", "mindcv/config.py",
       'bounds=(1e-6, 255.0),', "bounds=(0.0, 255.0),", "tests/test_config.py"),
    _m("a failed write leaves MindSpore's partial file", "mindcv/utils/fileio.py",
       "for partial in _temporaries(path, str(os.getpid())):", "for partial in [tmp]:",
       "tests/run/test_checkpoints.py"),
    _m("per-batch normalisation multiplies by 1/std", "mindcv/data/loader.py",
       "return np.divide(normalized, std, out=normalized)", "return np.multiply(normalized, 1 / std, out=normalized)",
       "tests/data/test_loader.py"),
    _m("bf16 rounding truncates instead of rounding to nearest even", "mindcv/ops/csrc/pointwise_conv.cc",
       "bits += 0x7fffu + ((bits >> 16) & 1u);", "bits += 0;", "tests/ops/test_cpu_kernels.py"),
    _m("max-pool on small maps keeps the last of equal values", "mindcv/ops/csrc/max_pool.cc",
       "const bool better = v > best;", "const bool better = v >= best;", "tests/ops/test_cpu_kernels.py"),
    _m("max-pool rows compare the window's first column twice", "mindcv/ops/csrc/max_pool.cc",
       "take_max(vc[j], ic[j], &best, &at);", "take_max(va[j], ia[j], &best, &at);", "tests/ops/test_cpu_kernels.py"),
    _m("evaluation BatchNorm ignores the moving mean", "mindcv/ops/csrc/batch_norm.cc",
       "shift[ch] = static_cast<float>(beta[ch] - mean[ch] * s);", "shift[ch] = static_cast<float>(beta[ch]);",
       "tests/ops/test_cpu_kernels.py"),
    _m("evaluation BatchNorm's gamma gradient forgets the mean", "mindcv/ops/cpu_kernels.py",
       "dgamma = (dout * ((x - mean.reshape(1, -1, 1, 1)) * invstd)).sum(axis=(0, 2, 3))",
       "dgamma = (dout * (x * invstd)).sum(axis=(0, 2, 3))", "tests/ops/test_cpu_kernels.py"),
    _m("matmul precision medium keeps the float32 kernel", "mindcv/models/layers.py",
       'cell.set_kernel_precision("bf16" if precision == "medium" else "fp32")', 'cell.set_kernel_precision("fp32")',
       "tests/models/test_xception.py"),
    _m("forked workers get no parent-death signal", "mindcv/run/signals.py",
       "    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)", "    pass", "tests/run/test_signals.py"),
    _m("a worker whose parent already died keeps running", "mindcv/run/signals.py",
       "    if os.getppid() != parent:", "    if False:", "tests/run/test_signals.py"),
    _m("children of any thread get the parent-death signal", "mindcv/run/signals.py",
       "    if from_main_thread and _prctl is not None:", "    if _prctl is not None:", "tests/run/test_signals.py"),
    _m("evaluation leaves the shared model in evaluation mode", "mindcv/engine/evaluate.py",
       "            cell.add_flags(training=training)", "            pass", "tests/engine/test_evaluate.py"),
    _m("a resumed run forgets the epoch files of its earlier processes", "mindcv/run/checkpoints.py",
       "self.saved: List[Dict] = _epoch_files(run_dir, model_name) if is_main else []",
       "self.saved: List[Dict] = []", "tests/run/test_checkpoints.py"),
    _m("the sweeper takes what is under a key in use", "mindcv/run/ipc_sweeper.py",
       'if any(row["nattch"] for row in shm.get(key, [])):', "if False:", "tests/run/test_ipc_sweeper.py"),
    _m("the sweeper takes queues a running process uses", "mindcv/run/ipc_sweeper.py",
       'if not (_running(row["lspid"]) or _running(row["lrpid"]))', "if True", "tests/run/test_ipc_sweeper.py"),
    _m("the start-up sweep takes queues used a moment ago", "mindcv/run/ipc_sweeper.py",
       'now - max(row["stime"], row["rtime"]) > QUIET_SECONDS', "True", "tests/run/test_ipc_sweeper.py"),
    _m("the sweeper is never started", "mindcv/run/signals.py", "    start_sweeper()", "    pass",
       "tests/run/test_ipc_sweeper.py"),
    _m("a full /dev/shm is not checked before the workers start", "mindcv/data/loader.py",
       "    if processes:\n        check_shared_memory(processes)", "    pass", "tests/test_train.py"),
    _m("the training process does not wait for the start-up sweep", "mindcv/run/ipc_sweeper.py",
       "    if select.select([_sweeper.stdout], [], [], READY_SECONDS)[0]:", "    if False:",
       "tests/run/test_ipc_sweeper.py"),
    _m("ECE sums signed gaps", "mindcv/engine/calibration.py", "np.abs(confidence - correct).sum()",
       "(confidence - correct).sum()", "tests/engine/test_calibration.py"),
    _m("the temperature search moves the wrong way", "mindcv/engine/calibration.py", "if value_a <= value_b:",
       "if value_a >= value_b:", "tests/engine/test_calibration.py"),
    _m("ECE bins are 1/14 wide", "mindcv/engine/calibration.py", "(confidence * ECE_BINS).astype(np.int64)",
       "(confidence * (ECE_BINS - 1)).astype(np.int64)", "tests/engine/test_calibration.py"),
    _m("predict ignores the calibration temperature", "mindcv/serving/inference.py",
       "probs = softmax(logits / self.temperature)", "probs = softmax(logits)", "tests/test_validate.py"),
    _m("storing the temperature drops the checkpoint's metadata", "mindcv/utils/checkpoint.py",
       "dict(meta, temperature=float(temperature)", "dict(temperature=float(temperature)", "tests/test_validate.py"),
]


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _pytest(tree: Path, tests: Sequence[str]) -> Tuple[int, float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=tree,
                          env=env, capture_output=True, text=True)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, time.perf_counter() - start, failed[0] if failed else done.stdout.strip()[-200:]


def run(mutations: Sequence[Mutation]) -> List[Dict]:
    """Apply each mutation alone in a copy of the tree and run its tests; one result row per mutation."""
    with tempfile.TemporaryDirectory(prefix="mindcv-mutation-") as work:
        tree = Path(work)
        _copy_tree(tree)
        for selection in sorted({m.tests for m in mutations}):
            code, seconds, detail = _pytest(tree, selection)
            if code != 0:
                raise SystemExit(f"unmutated tests fail, fix them first: {' '.join(selection)}\n{detail}")
            print(f"baseline passes: {' '.join(selection)} ({seconds:.0f} s)", file=sys.stderr)
        rows = []
        for mutation in mutations:
            path = tree / mutation.module
            original = path.read_text()
            if original.count(mutation.old) != 1:
                raise SystemExit(f"{mutation.description}: the fragment occurs {original.count(mutation.old)} times "
                                 f"in {mutation.module}; update the mutation list.")
            path.write_text(original.replace(mutation.old, mutation.new))
            try:
                code, seconds, detail = _pytest(tree, mutation.tests)
            finally:
                path.write_text(original)
            outcome = {0: "survived", 1: "caught"}.get(code, f"error (pytest exit {code})")
            rows.append(dict(asdict(mutation), outcome=outcome, seconds=round(seconds, 1), detail=detail))
            print(f"{outcome:9s} {seconds:6.0f} s  {mutation.description}", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="run the mutations whose description or module contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only.lower() in (m.description + m.module).lower()]
    if args.list:
        for mutation in chosen:
            print(f"{mutation.module}: {mutation.description}")
        return 0
    rows = run(chosen)
    print("| mutation | module | caught by | outcome |\n| --- | --- | --- | --- |")
    for row in rows:
        caught_by = row["detail"].split(" - ")[0].replace("FAILED ", "") if row["outcome"] == "caught" else "-"
        print(f"| {row['description']} | `{row['module']}` | `{caught_by}` | {row['outcome']} |")
    survived = [row for row in rows if row["outcome"] != "caught"]
    print(f"\n{len(rows) - len(survived)} of {len(rows)} mutations caught.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
