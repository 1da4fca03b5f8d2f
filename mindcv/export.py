"""Export a model to MindIR or ONNX, or as a folder for the Hugging Face Hub, and prove that what was written
computes what the model computes.

    python -m mindcv.export --ckpt_path runs/x/best.ckpt --format MINDIR --output xception.mindir
    python -m mindcv.export --pretrained keras_in1k --checkpoint xception_keras_in1k.ckpt --format ONNX \\
        --output xception.onnx --fold_bn
    python -m mindcv.export --ckpt_path runs/x/best.ckpt --format safetensors --output xception-flowers/

``--format safetensors`` writes a new folder in the Hub's model-repository layout (``model.safetensors``,
``config.json`` with the architecture, classes and preprocessing, a ``README.md`` model card from the run's
metrics and recipe), loads it back through ``create_model(name, pretrained=<folder>)`` and keeps it only when the
logits are bitwise the model's. Upload it with ``huggingface-cli upload ORG/NAME <folder>``; users then load
``pretrained="hf-hub:ORG/NAME"``.

The graph has one static input of shape (batch_size, in_channels, image_size, image_size), float32, already
normalised as the model's preprocessing does, and returns the logits. MindSpore's own ``mindspore.export``
writes the file; the tool then loads it back (MindIR through ``mindspore.load`` and ``nn.GraphCell``, ONNX
through onnxruntime) and runs a seeded random batch through both the file and the original model. Above
``atol + rtol * max|logits|`` (default 1e-4 + 1e-4 relative) nothing is written and the command fails; files
are written atomically. An ONNX check needs onnxruntime: without it the command refuses unless ``--no_verify``.
``--fold_bn`` folds every BatchNorm into the convolution before it (fewer ops; same logits up to rounding).
"""
import argparse
import logging
import sys
from typing import List, Optional

import mindspore as ms

from .cli import add_weight_arguments, check_weight_arguments, predictor_from_arguments, run_cli
from .serving.exporting import FORMATS, ExportError, export_for_hub, export_model

__all__ = ["export_model", "export_for_hub", "ExportError", "FORMATS", "main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_weight_arguments(parser)
    parser.add_argument("--format", default="MINDIR", choices=sorted([*FORMATS, "SAFETENSORS"]), type=str.upper)
    parser.add_argument("--output", required=True, help="file to write (the format's suffix is added if missing); "
                                                        "safetensors: the folder to create")
    parser.add_argument("--batch_size", type=int, default=1, help="static batch dimension of the graph")
    parser.add_argument("--image_size", type=int, default=0, help="static height/width (default: the model's)")
    parser.add_argument("--fold_bn", action="store_true", help="fold BatchNorm into the preceding convolutions")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--no_verify", action="store_true",
                        help="write the file without loading it back and checking it (for ONNX without onnxruntime)")
    args = parser.parse_args(argv)
    check_weight_arguments(parser, args)

    def export() -> int:
        ms.set_device("CPU")
        predictor = predictor_from_arguments(args)
        model = predictor.model
        if args.format == "SAFETENSORS":
            report = export_for_hub(predictor, args.output, args.ckpt_path or None)
            print(f"Wrote {report['folder']} ({report['architecture']}, {report['num_classes']} classes, input "
                  f"{report['input_shape']}): model.safetensors, config.json, README.md; loaded back as "
                  f"create_model(\"{report['architecture']}\", pretrained=\"{report['folder']}\") it gives bitwise "
                  "the same logits.")
            return 0
        report = export_model(model, args.output, args.format, args.batch_size,
                              args.image_size or predictor.preprocessing.image_size, model.in_channels,
                              args.fold_bn, args.atol, args.rtol, verify=not args.no_verify)
        checked = (f"checked against the model: max |diff| {report['max_abs_diff']:.2e} (relative "
                   f"{report['relative_diff']:.2e}, tolerance {report['tolerance']:.2e}), same top-1"
                   if report["verified"] else "NOT checked (--no_verify)")
        print(f"Wrote {report['file']} (input {report['input_shape']} float32, BN folded: {report['bn_folded']}); "
              f"{checked}.")
        return 0

    return run_cli(export, logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
