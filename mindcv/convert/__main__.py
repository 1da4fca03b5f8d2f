"""``python -m mindcv.convert {keras,timm} --src FILE --dst FILE.ckpt``: convert published Xception weights.

The converted weights are loaded strictly into the model before anything is written (every name and shape
checked), and the checkpoint is written atomically, so a file that converts is a file that loads.
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from ..cli import run_cli
from ..utils.download import sha256_file
from .common import write_converted

TAGS = {"keras": "keras_in1k", "timm": "timm_legacy_in1k"}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework", choices=sorted(TAGS), help="format of the source weights")
    parser.add_argument("--src", required=True, help="Keras .h5 file, or timm .safetensors / .pth file")
    parser.add_argument("--dst", required=True, help="MindSpore checkpoint to write (.ckpt)")
    args = parser.parse_args(argv)
    dst = Path(args.dst)
    if dst.suffix != ".ckpt":
        parser.error(f"--dst must end in .ckpt (got {dst}); MindSpore appends .ckpt to other names.")

    def convert() -> int:
        import mindspore as ms

        from ..models import create_model, get_pretrained_cfg
        from ..models.helpers import load_weights

        src = Path(args.src).expanduser()
        tag = TAGS[args.framework]
        state = get_pretrained_cfg("xception", tag).converter(src)
        num_classes = state["classifier.bias"].shape[0] if "classifier.bias" in state else 0
        tensors = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in state.items()}
        load_weights(create_model("xception", num_classes=num_classes), tensors, f"converted {src}")
        write_converted(state, dst, metadata={"converted_from": src.name, "converter": args.framework,
                                              "source_sha256": sha256_file(src), "pretrained_tag": tag})
        print(f"Wrote {dst} ({len(state)} tensors, sha256 {sha256_file(dst)}).\n"
              f"Load it with: create_model('xception', pretrained='{tag}', checkpoint_path='{dst}'"
              + (", num_classes=0)" if num_classes == 0 else ")"))
        return 0

    return run_cli(convert, logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
