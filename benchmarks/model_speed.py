"""Xception speed, side by side: ours, MindCV 0.3.0 and PyTorch + timm ``legacy_xception``.

    python benchmarks/model_speed.py                       # ours (3 variants) and every peer that is installed
    python benchmarks/model_speed.py --make-envs           # first create the peer environments (several GB)
    python benchmarks/model_speed.py --batch 8 --size 299 --mode graph --repeats 5 --steps 3 \\
        --json benchmarks/results/model_speed.json

Every (implementation, task) pair runs in a fresh process, so peak RSS and the time to the first step are
its own. Peers run from their own virtual environments (``benchmarks/make_peer_envs.sh`` creates them in
``benchmarks/.envs/``): MindCV 0.3.0's package is also called ``mindcv``, so it cannot share ours.
Reported per pair: model build time, time to the first step (graph compile included), steady-state
ms/step (min and median of ``--repeats`` timings of ``--steps`` steps each), images/s from the median,
achieved GFLOP/s (Xception at 299 px: 16.8 GFLOP per image forward, ~3x that for a training step) and
peak RSS. Training is one SGD-momentum step on a cross-entropy loss, the same cell for both MindSpore models.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ENVS = HERE / ".envs"
GFLOP_PER_IMAGE_299 = 16.8  # forward pass; scales with the number of pixels
IMPLEMENTATIONS = {
    "ours": dict(python=sys.executable, label="ours (mindcv-xception)"),
    "ours_bnfold": dict(python=sys.executable, label="ours, BatchNorm folded (inference only)"),
    "ours_msops": dict(python=sys.executable, label="ours on MindSpore's own depthwise/max-pool ops"),
    "mindcv": dict(python=str(ENVS / "mindcv030" / "bin" / "python"), label="MindCV 0.3.0"),
    "timm": dict(python=str(ENVS / "timm" / "bin" / "python"), label="PyTorch + timm legacy_xception"),
}


def _timed(step: Callable[[], None], repeats: int, steps: int) -> List[float]:
    """Seconds per step for each of ``repeats`` runs of ``steps`` steps."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        timings.append((time.perf_counter() - start) / steps)
    return timings


def _mindspore_step(impl: str, task: str, args: argparse.Namespace) -> Callable[[], None]:
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE if args.mode == "graph" else ms.PYNATIVE_MODE)
    if impl.startswith("ours"):
        sys.path.insert(0, str(HERE.parent))
    from mindcv.models import create_model

    model = create_model("xception", num_classes=1000)
    if impl == "ours_bnfold":
        model.fold_batchnorm()
    if args.amp != "O0":
        model = ms.amp.auto_mixed_precision(model, args.amp)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.normal(size=(args.batch, 3, args.size, args.size)).astype(np.float32))
    labels = ms.Tensor(rng.integers(0, 1000, args.batch).astype(np.int32))
    if task == "inference":
        model.set_train(False)
        return lambda: model(images).asnumpy()
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    optimizer = nn.Momentum(model.trainable_params(), learning_rate=0.01, momentum=0.9)
    train_step = nn.TrainOneStepCell(nn.WithLossCell(model, loss), optimizer)
    train_step.set_train(True)
    return lambda: train_step(images, labels).asnumpy()


def _torch_step(task: str, args: argparse.Namespace) -> Callable[[], None]:
    import timm
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    model = timm.create_model("legacy_xception", num_classes=1000)
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 1000, (args.batch,))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp != "O0")
    if task == "inference":
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast:
                model(images)
        return infer
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        loss.item()
    return train


def worker(impl: str, task: str, args: argparse.Namespace) -> Dict:
    """Run inside the implementation's own interpreter; returns the measurements of one pair."""
    start = time.perf_counter()
    step = _torch_step(task, args) if impl == "timm" else _mindspore_step(impl, task, args)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    step()
    first_step_s = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    timings = _timed(step, args.repeats, args.steps)
    median = statistics.median(timings)
    flop_per_image = GFLOP_PER_IMAGE_299 * (args.size / 299) ** 2 * (3 if task == "train" else 1)
    if impl == "timm":
        import torch
        version = f"torch {torch.__version__}"
    else:
        import mindspore
        version = f"mindspore {mindspore.__version__}"
    return dict(impl=impl, task=task, version=version, build_s=round(build_s, 2),
                first_step_s=round(first_step_s, 2), ms_per_step_min=round(min(timings) * 1e3, 1),
                ms_per_step_median=round(median * 1e3, 1), images_per_s=round(args.batch / median, 2),
                gflops=round(args.batch / median * flop_per_image, 1),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def run_pair(impl: str, task: str, args: argparse.Namespace, python: str) -> Optional[Dict]:
    command = [python, str(Path(__file__).resolve()), "--worker", impl, task, "--batch", str(args.batch),
               "--size", str(args.size), "--mode", args.mode, "--amp", args.amp, "--repeats", str(args.repeats),
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = dict(os.environ, GLOG_v="3", PYTHONWARNINGS="ignore")
    if impl == "ours_msops":
        env["MINDCV_CPU_KERNELS"] = "0"
    print(f"[{impl} {task}] {' '.join(command[:1])} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=str(HERE), env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        print(f"[{impl} {task}] failed (exit {done.returncode}):\n{tail}", file=sys.stderr)
        return None
    result = json.loads(lines[-1][len("RESULT "):])
    print(f"[{impl} {task}] {result['images_per_s']} img/s, first step {result['first_step_s']} s",
          file=sys.stderr, flush=True)
    return result


def table(results: List[Dict], args: argparse.Namespace) -> str:
    rows = ["| implementation | task | img/s | ms/step min / median | first step (s) | build (s) | GFLOP/s "
            "| peak RSS (MB) | vs ours |", "| --- " * 9 + "|"]
    ours = {r["task"]: r["images_per_s"] for r in results if r["impl"] == "ours"}
    for r in results:
        ratio = (f"{ours[r['task']] / r['images_per_s']:.2f}x"
                 if r["task"] in ours and not r["impl"].startswith("ours") else "")
        rows.append(f"| {IMPLEMENTATIONS[r['impl']]['label']} ({r['version']}) | {r['task']} | {r['images_per_s']} "
                    f"| {r['ms_per_step_min']} / {r['ms_per_step_median']} | {r['first_step_s']} | {r['build_s']} "
                    f"| {r['gflops']} | {r['peak_rss_mb']} | {ratio} |")
    return (f"batch {args.batch}, {args.size}x{args.size}, {args.mode} mode (PyTorch: eager), AMP {args.amp}; "
            f"'vs ours' = ours img/s / theirs\n" + "\n".join(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=list(IMPLEMENTATIONS))
    parser.add_argument("--task", nargs="+", default=["inference", "train"], choices=["inference", "train"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--mode", choices=["graph", "pynative"], default="graph")
    parser.add_argument("--amp", choices=["O0", "O1", "O2", "O3"], default="O0")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--mindcv-python", default=IMPLEMENTATIONS["mindcv"]["python"])
    parser.add_argument("--timm-python", default=IMPLEMENTATIONS["timm"]["python"])
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--make-envs", action="store_true",
                        help="first create the missing peer environments (benchmarks/make_peer_envs.sh)")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker, args)), flush=True)
        return 0
    if args.make_envs:
        subprocess.run(["bash", str(HERE / "make_peer_envs.sh")], check=True)
    pythons = dict({impl: sys.executable for impl in IMPLEMENTATIONS if impl.startswith("ours")},
                   mindcv=args.mindcv_python, timm=args.timm_python)
    results = []
    for impl in args.impl:
        if not Path(pythons[impl]).exists():
            print(f"[{impl}] skipped: no interpreter at {pythons[impl]} (see benchmarks/make_peer_envs.sh)",
                  file=sys.stderr)
            continue
        for task in args.task:
            if impl == "ours_bnfold" and task == "train":
                continue
            result = run_pair(impl, task, args, pythons[impl])
            if result:
                results.append(result)
    print(table(results, args))
    if args.json:
        machine = dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                       python=platform.python_version())
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(dict(settings=vars(args), machine=machine, results=results),
                                              indent=2) + "\n")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
