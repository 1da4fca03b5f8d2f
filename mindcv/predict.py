"""Classify image files with a trained or pretrained model.

    python -m mindcv.predict photo.jpg more_photos/ --ckpt_path runs/x/best.ckpt
    python -m mindcv.predict photos/ --pretrained keras_in1k --checkpoint xception_keras_in1k.ckpt --topk 3 \\
        --output predictions.csv

Images go through the evaluation preprocessing the weights were trained with (the training config stored in
a mindcv checkpoint, or the model's pretrained config) on MindSpore's dataset engine, in batches. Labels are
the class names stored in the checkpoint, or the ImageNet-1K names for 1000-class models. A file that
cannot be decoded is reported (``error`` in the output) and does not stop the others (exit code 1).

``--backend onnxruntime`` or ``openvino`` runs the model's ONNX export instead of MindSpore (made once and cached
next to the checkpoint, or in ``--export_dir``), after checking it against MindSpore on the first batch.
"""
import argparse
import csv
import io
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms

from .cli import add_weight_arguments, check_weight_arguments, predictor_from_arguments, run_cli
from .data.sources import collect_images
from .config import BACKENDS, PRECISIONS, check_serving_options
from .serving.quantization import Calibration
from .utils.errors import ConfigError
from .utils.fileio import write_text_atomic

__all__ = ["collect_images", "write_results", "main"]


def _printable(name: str) -> str:
    """A file name as text even when it is not valid UTF-8 (undecodable bytes shown as \\xNN)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_results(results: List[Dict], path: Path) -> None:
    """``.json``: the result list; ``.csv``: one row per (file, rank). Written atomically, as UTF-8 (file and class
    names that are not valid UTF-8 show their undecodable bytes as \\xNN)."""
    rows = [{key: _printable(value) if key in ("file", "error") else value for key, value in entry.items()}
            for entry in results]
    for entry in rows:
        entry["predictions"] = [dict(p, label=_printable(str(p["label"]))) for p in entry["predictions"]]
    if path.suffix.lower() == ".json":
        write_text_atomic(path, json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "rank", "index", "label", "probability", "error"])
    for entry in rows:
        if entry.get("error"):
            writer.writerow([entry["file"], "", "", "", "", entry["error"]])
        for rank, pred in enumerate(entry["predictions"], 1):
            writer.writerow([entry["file"], rank, pred["index"], pred["label"], f"{pred['probability']:.6f}", ""])
    write_text_atomic(path, buffer.getvalue())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files and/or folders (searched recursively)")
    add_weight_arguments(parser)
    parser.add_argument("--topk", type=int, default=None, help="classes per image (default: 5, or all if fewer)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output", default="", help="also write the results to a .json or .csv file")
    parser.add_argument("--device_target", default="CPU")
    parser.add_argument("--backend", default="mindspore", choices=BACKENDS,
                        help="what runs the model: MindSpore, or its cached ONNX export in ONNX Runtime / OpenVINO")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="openvino: auto (its default: bf16 on CPUs with native bf16), fp32, bf16 or int8 "
                             "(quantized on --calibration_dir); others fp32")
    parser.add_argument("--calibration_dir", default="",
                        help="--precision int8: folder of images like those to classify (a few hundred)")
    parser.add_argument("--calibration_size", type=int, default=300,
                        help="--precision int8: how many calibration images (spread over the folder's sorted files)")
    parser.add_argument("--export_dir", default="", help="where exports are cached (default: beside the checkpoint)")
    args = parser.parse_args(argv)
    check_weight_arguments(parser, args)
    try:
        check_serving_options(args.backend, args.precision, args.calibration_dir)
    except ConfigError as error:
        parser.error(str(error))
    if args.output and Path(args.output).suffix.lower() not in (".json", ".csv"):
        parser.error(f"--output must end in .json or .csv, got {args.output}")

    def predict() -> int:
        if args.batch_size < 1:
            raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}.")
        if args.output and not Path(args.output).expanduser().resolve().parent.is_dir():
            raise ConfigError(f"The folder of --output {args.output} does not exist; create it first.")
        ms.set_device(args.device_target)
        predictor = predictor_from_arguments(args)
        calibration = Calibration(args.calibration_dir, args.calibration_size) if args.calibration_dir else None
        files = collect_images(args.images)
        results = predictor.predict(files, args.topk, args.batch_size, progress=len(files) > args.batch_size,
                                    backend=args.backend, precision=args.precision, cache_dir=args.export_dir or None,
                                    calibration=calibration)
        run = predictor.last_run
        speed = (f", {run['images_per_second']:.1f} images/s after the first batch (decoding included)"
                 if run["images_per_second"] else "")
        check = run.get("check")
        checked = (f"; first batch vs MindSpore: max |logit diff| {check['max_abs_logit_diff']:.2e}, max |probability "
                   f"diff| {check['max_probability_diff']:.2e}" if check else "")
        calibrated = (f"; probabilities calibrated (temperature {predictor.temperature:.3f})"
                      if predictor.temperature != 1.0 else "")
        print(f"{len(files)} images, backend {run['backend']} ({run['precision']}){speed}{checked}{calibrated}",
              file=sys.stderr)
        for entry in results:
            shown = entry.get("error") or ", ".join(f"{p['label']} {p['probability']:.3f}"
                                                    for p in entry["predictions"])
            print(f"{_printable(entry['file'])}: {shown}")
        if args.output:
            write_results(results, Path(args.output))
        return 1 if any(entry.get("error") for entry in results) else 0

    return run_cli(predict, logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
