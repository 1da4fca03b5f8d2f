"""Xception speed over a grid of input sizes: ours (CPU kernels on and off, and with bf16 products), MindCV 0.3.0,
PyTorch + timm ``legacy_xception`` (eager, channels_last, ``torch.compile``, bf16 autocast), and our ONNX export in
ONNX Runtime and OpenVINO (fp32, bf16).

    python benchmarks/model_speed.py --rounds 2 --json benchmarks/results/model_speed.json
    python benchmarks/model_speed.py --make-envs           # first create the peer environments (several GB)
    python benchmarks/model_speed.py --grid train:71:16 inference:299:8 --impl ours ours_off

Every (setting, implementation) pair runs in a fresh process of its implementation's environment (MindCV 0.3.0
and PyTorch live in ``benchmarks/.envs/``, made by ``benchmarks/make_peer_envs.sh``; MindCV's package is also
called ``mindcv``). Rows are interleaved: each round runs every implementation of a setting before the next
setting, and ``--rounds`` repeats the whole grid, so a busy spell of the shared machine hits all rows alike;
both rounds are printed and the JSON keeps every measurement. Per pair: steady-state ms/step (min and median of
``--repeats`` timings of ``--steps`` steps), images/s from the median, time to the first step (graph compile
included), achieved GFLOP/s (16.8 GFLOP per 299 px image forward, scaled by pixels; a training step counts 3x)
and its share of the machine's SGEMM rate, measured in the same run (numpy/OpenBLAS 2048^3 on all cores; a
practical roofline; the bf16 and int8 rates of OpenVINO's matrix product are recorded beside it for the
performance page's charts). Training is one SGD-momentum step on cross-entropy, the same cell for both MindSpore
models. Exported rows: our model exported to ONNX (BatchNorm folded by the runtimes). Ratios are to the fastest
peer of the same precision (fp32 rows to fp32 peers, bf16 to bf16); the CPU's AVX-512/BF16/AMX flags are recorded.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from machine import cpu_flags, cpu_name, gemm_ceilings  # benchmarks/machine.py and report.py, beside this script
from report import fastest_peer

HERE = Path(__file__).resolve().parent
ENVS = HERE / ".envs"
GFLOP_PER_IMAGE_299 = 16.8  # forward pass; scales with the number of pixels
DEFAULT_GRID = ["train:71:16", "train:149:8", "train:224:8", "train:299:8", "inference:71:16", "inference:299:8"]
TORCH = str(ENVS / "timm" / "bin" / "python")
IMPLEMENTATIONS = {  # peer: compared with ours; precision: the peers ours is held to (fp32 with fp32)
    "ours": dict(python=sys.executable, label="ours (default: CPU kernels on)", precision="fp32"),
    "ours_off": dict(python=sys.executable, label="ours, kernels off (MINDCV_CPU_KERNELS=0)", precision="fp32"),
    "ours_bf16": dict(python=sys.executable, label="ours, float32_matmul_precision medium (bf16 products)",
                      precision="bf16"),
    "mindcv": dict(python=str(ENVS / "mindcv030" / "bin" / "python"), label="MindCV 0.3.0", precision="fp32",
                   peer=True),
    "timm": dict(python=TORCH, label="PyTorch + timm legacy_xception (eager)", precision="fp32", peer=True),
    "timm_cl": dict(python=TORCH, label="PyTorch eager, channels_last", precision="fp32", peer=True),
    "timm_compile": dict(python=TORCH, label="PyTorch torch.compile (inductor)", precision="fp32", peer=True),
    "timm_bf16": dict(python=TORCH, label="PyTorch bf16 autocast, channels_last", precision="bf16", peer=True),
    "onnxruntime": dict(python=sys.executable, label="our ONNX export in ONNX Runtime", inference_only=True,
                        precision="fp32", peer=True),
    "openvino": dict(python=sys.executable, label="our ONNX export in OpenVINO", inference_only=True,
                     precision="fp32", peer=True),
    "openvino_bf16": dict(python=sys.executable, label="our ONNX export in OpenVINO, bf16 inference precision",
                          inference_only=True, precision="bf16", peer=True),
    "openvino_int8": dict(python=sys.executable, label="ours, int8 serving (our export quantized by NNCF, OpenVINO)",
                          inference_only=True, precision="int8", held_to="bf16"),
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


def _mindspore_step(impl: str, task: str, batch: int, size: int) -> Callable[[], None]:
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    if impl != "mindcv":
        sys.path.insert(0, str(HERE.parent))
    from mindcv.models import create_model

    model = create_model("xception", num_classes=1000)
    if impl == "ours_bf16":
        model.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.normal(size=(batch, 3, size, size)).astype(np.float32))
    labels = ms.Tensor(rng.integers(0, 1000, batch).astype(np.int32))
    if task == "inference":
        model.set_train(False)
        return lambda: model(images).asnumpy()
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    optimizer = nn.Momentum(model.trainable_params(), learning_rate=0.01, momentum=0.9)
    train_step = nn.TrainOneStepCell(nn.WithLossCell(model, loss), optimizer)
    train_step.set_train(True)
    return lambda: train_step(images, labels).asnumpy()


def _exported_step(impl: str, batch: int, size: int) -> Callable[[], None]:
    import mindspore as ms
    import numpy as np

    ms.set_device("CPU")
    sys.path.insert(0, str(HERE.parent))
    from mindcv.serving.exporting import export_model
    from mindcv.models import create_model

    path = Path(tempfile.mkdtemp()) / "xception.onnx"
    export_model(create_model("xception", num_classes=1000), str(path), "ONNX", batch, size, verify=False)
    images = np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32)
    if impl == "onnxruntime":
        import onnxruntime
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: images})
    import openvino
    if impl == "openvino_int8":
        path = _quantized(path, batch, size)
    precision = "bf16" if impl == "openvino_bf16" else "f32"  # int8: what NNCF leaves in floating point runs fp32
    request = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision})
    infer = request.create_infer_request()
    return lambda: infer.infer([images])


def _quantized(export: Path, batch: int, size: int) -> Path:
    """The export quantized as ``--precision int8`` does (mindcv.serving.quantization), calibrated on noise images:
    the speed of int8 arithmetic does not depend on what the calibration images show."""
    import mindspore as ms
    import numpy as np
    import openvino
    from mindspore import nn
    from PIL import Image

    from mindcv.data.transforms_factory import Preprocessing
    from mindcv.engine.networks import NormalizeInput
    from mindcv.serving.quantization import quantize_export

    preprocessing = Preprocessing(image_size=size)
    rng = np.random.default_rng(0)
    files = []
    for index in range(2 * batch):
        files.append(export.with_name(f"calibration-{index}.png"))
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(files[-1])
    normalise = NormalizeInput(nn.Identity(), preprocessing.mean, preprocessing.std)  # as create_runner's int8 path
    target = export.with_name("xception-int8.xml")
    quantize_export(openvino.convert_model(str(export)), export.name, target, files, preprocessing, batch,
                    lambda images: normalise(ms.Tensor(images)).asnumpy())
    return target


def _torch_step(impl: str, task: str, batch: int, size: int) -> Callable[[], None]:
    """timm's model as PyTorch users run it fastest on a CPU: eager (``timm``), channels_last (``timm_cl``),
    ``torch.compile`` (``timm_compile``) or bf16 autocast with channels_last (``timm_bf16``)."""
    import contextlib

    import timm
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    model = timm.create_model("legacy_xception", num_classes=1000)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 1000, (batch,))
    if impl in ("timm_cl", "timm_bf16"):
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    if task == "inference":
        model.eval()
    forward = torch.compile(model) if impl == "timm_compile" else model

    def precision():
        if impl == "timm_bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()
    if task == "inference":
        def infer() -> None:
            with torch.inference_mode(), precision():
                forward(images)
        return infer
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision():
            loss = criterion(forward(images), labels)
        loss.backward()
        optimizer.step()
        loss.item()
    return train


def _version(impl: str) -> str:
    if impl.startswith("timm"):
        import torch
        return f"torch {torch.__version__}"
    if impl.startswith(("onnxruntime", "openvino")):
        name = impl.split("_")[0]
        return f"{name} {__import__(name).__version__.split('-')[0]}"
    import mindspore
    return f"mindspore {mindspore.__version__}"


def worker(impl: str, task: str, batch: int, size: int, repeats: int, steps: int) -> Dict:
    """Run inside the implementation's own interpreter; returns the measurements of one pair."""
    start = time.perf_counter()
    if impl.startswith("timm"):
        step = _torch_step(impl, task, batch, size)
    elif impl in ("onnxruntime", "openvino", "openvino_bf16", "openvino_int8"):
        step = _exported_step(impl, batch, size)
    else:
        step = _mindspore_step(impl, task, batch, size)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    step()
    first_step_s = time.perf_counter() - start
    step()
    timings = _timed(step, repeats, steps)
    median = statistics.median(timings)
    flop_per_image = GFLOP_PER_IMAGE_299 * (size / 299) ** 2 * (3 if task == "train" else 1)
    return dict(impl=impl, task=task, size=size, batch=batch, version=_version(impl), build_s=round(build_s, 2),
                first_step_s=round(first_step_s, 2), ms_per_step_min=round(min(timings) * 1e3, 1),
                ms_per_step_median=round(median * 1e3, 1), images_per_s=round(batch / median, 2),
                gflops=round(batch / median * flop_per_image, 1),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def run_pair(impl: str, task: str, batch: int, size: int, args: argparse.Namespace) -> Optional[Dict]:
    python = IMPLEMENTATIONS[impl]["python"]
    command = [python, str(Path(__file__).resolve()), "--worker", impl, task, str(batch), str(size),
               "--repeats", str(args.repeats), "--steps", str(args.steps)]
    env = dict(os.environ, GLOG_v="3", PYTHONWARNINGS="ignore")
    if impl == "ours_off":
        env["MINDCV_CPU_KERNELS"] = "0"
    done = subprocess.run(command, cwd=str(HERE), env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        print(f"[{impl} {task} {size}px] failed (exit {done.returncode}):\n{tail}", file=sys.stderr)
        return None
    result = json.loads(lines[-1][len("RESULT "):])
    print(f"[{task} {size}px b{batch} {impl}] {result['images_per_s']} img/s", file=sys.stderr, flush=True)
    return result


def table(results: List[Dict], peak: List[float]) -> str:
    """One row per (setting, implementation): img/s of every round, GFLOP/s and ratios of the best round."""
    rows = ["| setting | implementation | img/s per round | best GFLOP/s (% of SGEMM) | first step (s) "
            "| vs kernels off | vs best peer of its precision |", "| --- " * 7 + "|"]
    settings = sorted({(r["task"], r["size"], r["batch"]) for r in results}, key=lambda s: (s[0] != "train", s[1]))
    for task, size, batch in settings:
        cell = [r for r in results if (r["task"], r["size"], r["batch"]) == (task, size, batch)]
        best = {impl: max(r["images_per_s"] for r in cell if r["impl"] == impl) for impl in {r["impl"] for r in cell}}
        for impl in [name for name in IMPLEMENTATIONS if name in best]:
            runs = [r for r in cell if r["impl"] == impl]
            top = max(runs, key=lambda r: r["images_per_s"])
            off = f"{best[impl] / best['ours_off']:.2f}x" if "ours_off" in best and impl != "ours_off" else ""
            peer = fastest_peer(best, IMPLEMENTATIONS, impl)
            versus = (f"{best[impl] / best[peer]:.2f}x ({peer})" if peer and not IMPLEMENTATIONS[impl].get("peer")
                      else "")
            rows.append(f"| {task} {size} px, batch {batch} | {IMPLEMENTATIONS[impl]['label']} ({top['version']}) "
                        f"| {' / '.join(str(r['images_per_s']) for r in runs)} | {top['gflops']} "
                        f"({100 * top['gflops'] / max(peak):.0f}%) | {top['first_step_s']} | {off} | {versus} |")
    return (f"SGEMM rate (numpy/OpenBLAS 2048^3) before/after: {peak[0]:.0f} / {peak[-1]:.0f} GFLOP/s; "
            "img/s per round in run order; ratios from the best round\n" + "\n".join(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=list(IMPLEMENTATIONS))
    parser.add_argument("--grid", nargs="+", default=DEFAULT_GRID, help="task:size:batch settings")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--make-envs", action="store_true",
                        help="first create the missing peer environments (benchmarks/make_peer_envs.sh)")
    parser.add_argument("--worker", nargs=4, metavar=("IMPL", "TASK", "BATCH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, task, batch, size = args.worker
        print("RESULT " + json.dumps(worker(impl, task, int(batch), int(size), args.repeats, args.steps)),
              flush=True)
        return 0
    if args.make_envs:
        subprocess.run(["bash", str(HERE / "make_peer_envs.sh")], check=True)
    available = [impl for impl in args.impl if Path(IMPLEMENTATIONS[impl]["python"]).exists()]
    for impl in sorted(set(args.impl) - set(available)):
        print(f"[{impl}] skipped: no interpreter at {IMPLEMENTATIONS[impl]['python']} (benchmarks/make_peer_envs.sh)",
              file=sys.stderr)
    ceilings, results, started = [gemm_ceilings()], [], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = [os.getloadavg()]
    for _ in range(args.rounds):
        for setting in args.grid:
            task, size, batch = setting.split(":")
            for impl in available:
                if task == "train" and IMPLEMENTATIONS[impl].get("inference_only"):
                    continue
                result = run_pair(impl, task, int(batch), int(size), args)
                if result:
                    results.append(result)
    ceilings.append(gemm_ceilings())
    load.append(os.getloadavg())
    peak = [c["fp32"] for c in ceilings]
    print(f"{cpu_name()} ({' '.join(cpu_flags())}), load average at start / end: {load[0]} / {load[-1]}")
    print(table(results, peak))
    if args.json:
        machine = dict(cpu=cpu_name(), cpu_flags=cpu_flags(), cores=os.cpu_count(), load_average=load,
                       sgemm_gflops=peak, gemm_gflops=ceilings, started=started)
        implementations = {impl: dict(label=spec["label"], precision=spec["precision"], peer=spec.get("peer", False),
                                      **({"held_to": spec["held_to"]} if "held_to" in spec else {}))
                           for impl, spec in IMPLEMENTATIONS.items() if impl in available}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(dict(settings=vars(args), machine=machine,
                                                   implementations=implementations, results=results),
                                              indent=1) + "\n")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
