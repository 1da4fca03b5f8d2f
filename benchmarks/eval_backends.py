"""``validate.py``'s evaluation through each backend, against that backend's bare rate.

    python benchmarks/eval_backends.py --images 480 --rounds 2 --json benchmarks/results/eval_backends.json

Makes photo-like JPEGs (~500x375, 10 classes; ``data_pipeline.make_folder``) and a checkpoint of random weights
once, then for every backend (MindSpore; our ONNX export in ONNX Runtime; in OpenVINO at fp32, bf16 and int8,
quantized on 64 of the folder's images) runs the
calls of ``validate.py --backend B --precision P --export_dir D`` at 299 px, batch 8, in a fresh process:
the evaluation data pipeline (decoding included), the cached export checked against MindSpore on the first
batch, and the scoring. It records the images/s ``validate.py`` prints (the first batch's MindSpore check
included), the steady rate after the first batch, and, in the same process afterwards, the
backend's bare rate on one repeated batch of decoded images (the runner alone: normalising and inference). The
goal is a steady rate of at least 0.8x the bare rate. Rows are interleaved and repeated ``--rounds`` times. The
machine's 2048^3 matrix-product rate (fp32: numpy; bf16 and int8: OpenVINO) is measured before and after, and
each bare rate is reported as a fraction of the rate of its precision (16.8 GFLOP per image).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_pipeline import make_folder  # benchmarks/data_pipeline.py, beside this script
from machine import cpu_flags, cpu_name, gemm_ceilings

HERE = Path(__file__).resolve().parent
SIZE, BATCH, CLASSES = 299, 8, 10
BACKENDS = [("mindspore", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"),
            ("openvino", "int8")]
CALIBRATION_IMAGES = 64  # int8: calibration images from the benchmark's own folder (the speed does not depend on them)
GFLOP_PER_IMAGE = 16.8  # one 299 px forward pass


def make_checkpoint(path: Path) -> None:
    """Random weights for 10 classes, saved as a checkpoint ``validate.py`` accepts."""
    import mindspore as ms

    from mindcv.models import create_model

    if not path.exists():
        ms.save_checkpoint(create_model("xception", num_classes=CLASSES), str(path))


def measure(root: str, checkpoint: str, backend: str, precision: str, export_dir: str) -> dict:
    """Inside a fresh process: validate.py's calls, timed per batch, then the runner's bare rate."""
    import mindspore as ms

    from mindcv.config import parse_config
    from mindcv.engine.evaluate import pad_batch
    from mindcv.run.builder import build_runtime, build_validation
    from mindcv.run.validation import run_validation

    int8 = ["--calibration_dir", str(Path(root) / "train"), "--calibration_size", str(CALIBRATION_IMAGES)]
    config = parse_config(["--model", "xception", "--data_dir", root, "--ckpt_path", checkpoint, "--backend", backend,
                           "--precision", precision, "--export_dir", export_dir, "--batch_size", str(BATCH),
                           "--image_resize", str(SIZE), "--num_classes", str(CLASSES), "--num_parallel_workers", "2",
                           *(int8 if precision == "int8" else [])])
    runtime = build_runtime(config)
    parts = build_validation(config, runtime)
    if backend == "mindspore":  # what evaluate does with a cell: pad to one compiled shape
        def score(images):
            return parts.network(ms.Tensor(pad_batch(images, BATCH))).asnumpy()[:len(images)]
    else:
        score = parts.scorer
    stamps, kept = [], []

    def timed(images):
        logits = score(images)
        stamps.append(time.perf_counter())
        if len(kept) < 2:
            kept.append(images)
        return logits

    metrics = run_validation(runtime, parts, scorer=timed)
    steady = BATCH * (len(stamps) - 2) / (stamps[-2] - stamps[0])  # the full batches after the first
    images = kept[1]
    repeats = max(3, len(stamps) // 4)
    bare_start = time.perf_counter()
    for _ in range(repeats):
        score(images)
    bare = BATCH * repeats / (time.perf_counter() - bare_start)
    return dict(backend=backend, precision=precision, images=metrics["num_images"], top1=round(metrics["top1"], 2),
                validate_images_per_s=round(metrics["images_per_second"], 2), steady_images_per_s=round(steady, 2),
                bare_images_per_s=round(bare, 2), steady_vs_bare=round(steady / bare, 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "mindcv_bench_eval")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--make-checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(measure(*args.worker)), flush=True)
        return 0
    if args.make_checkpoint:
        make_checkpoint(args.make_checkpoint)
        return 0
    make_folder(args.folder, args.images)
    val = args.folder / "val"
    if not val.exists():
        val.symlink_to(args.folder / "train")
    checkpoint, export_dir = args.folder / "random_weights.ckpt", args.folder / "exports"
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=str(HERE.parent), PYTHONWARNINGS="ignore")
    # MindSpore only in child processes: this one stays light while they are timed
    subprocess.run([sys.executable, __file__, "--make-checkpoint", str(checkpoint)], env=env, check=True)
    results, load, ceilings = [], [os.getloadavg()], [gemm_ceilings()]
    for round_index in range(args.rounds):
        for backend, precision in BACKENDS:
            done = subprocess.run([sys.executable, __file__, "--worker", str(args.folder), str(checkpoint), backend,
                                   precision, str(export_dir)], capture_output=True, text=True, env=env)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(f"[{backend} {precision}] failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                return 1
            row = dict(json.loads(lines[-1][len("RESULT "):]), round=round_index + 1)
            results.append(row)
            print(f"round {row['round']}: {backend} {precision}: validate {row['validate_images_per_s']}, steady "
                  f"{row['steady_images_per_s']}, bare {row['bare_images_per_s']} images/s", file=sys.stderr)
    load.append(os.getloadavg())
    ceilings.append(gemm_ceilings())
    for row in results:  # the bare rate as a fraction of the machine's matrix-product rate of its precision
        ceiling = max(c.get(row["precision"], c["fp32"]) for c in ceilings)
        row["bare_fraction_of_gemm"] = round(row["bare_images_per_s"] * GFLOP_PER_IMAGE / ceiling, 3)
    print(f"{args.images} JPEGs ~500x375, {SIZE} px, batch {BATCH}, {cpu_name()} ({' '.join(cpu_flags())}), load "
          f"average at start / end {load[0][0]:.2f} / {load[-1][0]:.2f}; 2048^3 GEMM GFLOP/s at start / end "
          f"{ceilings[0]} / {ceilings[-1]}")
    print("| backend | precision | validate img/s | steady img/s | bare img/s | steady / bare | bare / GEMM | top-1 |")
    print("| --- " * 8 + "|")
    for row in results:
        cells = [row[key] for key in ("backend", "precision", "validate_images_per_s", "steady_images_per_s",
                                      "bare_images_per_s", "steady_vs_bare", "bare_fraction_of_gemm", "top1")]
        print("| " + " | ".join(map(str, cells)) + " |")
    if args.json:
        args.json.write_text(json.dumps(dict(images=args.images, size=SIZE, batch=BATCH, rounds=args.rounds,
                                             machine=dict(cpu=cpu_name(), cpu_flags=cpu_flags(), cores=os.cpu_count(),
                                                          load_average=load, gemm_gflops=ceilings),
                                             results=results), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
