"""Classify image files with a trained or pretrained model.

    python -m mindcv.predict photo.jpg more_photos/ --ckpt_path runs/x/best.ckpt
    python -m mindcv.predict photos/ --pretrained keras_in1k --checkpoint xception_keras_in1k.ckpt --topk 3 \\
        --output predictions.csv

Images go through the evaluation preprocessing the weights were trained with (the training config stored in
a mindcv checkpoint, or the model's pretrained config) on MindSpore's dataset engine, in batches. Labels are
the class names stored in the checkpoint, or the ImageNet-1K names for 1000-class models. A file that
cannot be decoded is reported (``error`` in the output) and does not stop the others.
"""
import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
import yaml
from tqdm import tqdm

from .data.sources import IMAGE_EXTENSIONS, DataError, decode_image
from .data.transforms_factory import create_transforms
from .models import create_model
from .models.builder import load_weights
from .utils.checkpoint import CheckpointError, checkpoint_metadata, read_checkpoint
from .utils.download import DownloadError

__all__ = ["Predictor", "imagenet_class_names", "collect_images", "add_weight_arguments",
           "predictor_from_arguments", "main"]

_logger = logging.getLogger(__name__)
IMAGENET_CLASSES = Path(__file__).parent / "data" / "imagenet_classes.tsv"


def imagenet_class_names() -> List[str]:
    """The 1000 ImageNet-1K class names in index order (first WordNet lemma of each synset)."""
    lines = IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1].split(",")[0].strip() for line in lines]


def collect_images(paths: Sequence[str]) -> List[Path]:
    """Image files named directly or found (recursively, sorted) in the given folders."""
    files: List[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                           and not p.name.startswith("."))
            if not found:
                raise DataError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in folder {path}.")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"Image path not found: {path}.")
    return files


@dataclass
class Preprocessing:
    image_size: int
    crop_pct: float
    interpolation: str
    mean: Sequence[float]
    std: Sequence[float]


class _ImageFiles:
    """Random-access source for GeneratorDataset: decoded RGB images; unreadable files become blanks."""

    def __init__(self, files: List[Path]):
        self.files = files
        self.errors: Dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        try:
            image = decode_image(self.files[index].read_bytes())
        except (OSError, ValueError, SyntaxError) as exc:
            self.errors[index] = f"cannot read image: {type(exc).__name__}: {exc}"
            image = np.zeros((8, 8, 3), np.uint8)
        return image, np.int32(index)


class Predictor:
    """A model in eval mode with its class names and evaluation preprocessing."""

    def __init__(self, model: ms.nn.Cell, class_names: List[str], preprocessing: Preprocessing):
        self.model = model
        self.class_names = class_names
        self.preprocessing = preprocessing
        self.model.set_train(False)

    @classmethod
    def from_checkpoint(cls, checkpoint_path: str, model_name: str = "", **model_kwargs) -> "Predictor":
        """A model trained by ``train.py``: name, classes and preprocessing come from the checkpoint."""
        state = read_checkpoint(checkpoint_path)
        meta = checkpoint_metadata(state)
        config = yaml.safe_load(meta["config"]) if "config" in meta else {}
        name = model_name or meta.get("model") or "xception"
        if "class_names" in meta:
            class_names = json.loads(meta["class_names"])
        else:
            classes = state["classifier.bias"].shape[0] if "classifier.bias" in state else 0
            class_names = imagenet_class_names() if classes == 1000 else [f"class_{i}" for i in range(classes)]
        model = create_model(name, num_classes=len(class_names), in_channels=config.get("in_channels", 3),
                             **model_kwargs)
        load_weights(model, state, f"checkpoint {checkpoint_path}")
        cfg = model.pretrained_cfg
        preprocessing = Preprocessing(
            image_size=config.get("image_resize", cfg.input_size[-1] if cfg else 299),
            crop_pct=config.get("crop_pct", cfg.crop_pct if cfg else 0.875),
            interpolation=config.get("interpolation", cfg.interpolation if cfg else "bilinear"),
            mean=config.get("mean", cfg.mean if cfg else (123.675, 116.28, 103.53)),
            std=config.get("std", cfg.std if cfg else (58.395, 57.12, 57.375)))
        return cls(model, class_names, preprocessing)

    @classmethod
    def from_pretrained(cls, model_name: str, tag: str = "", checkpoint_path: str = "",
                        **model_kwargs) -> "Predictor":
        """Published weights (``tag`` or the default), downloaded or read from ``checkpoint_path``."""
        model = create_model(model_name, pretrained=tag or True, checkpoint_path=checkpoint_path, **model_kwargs)
        cfg = model.pretrained_cfg
        names = imagenet_class_names() if cfg.num_classes == 1000 else [f"class_{i}" for i in range(cfg.num_classes)]
        return cls(model, names, Preprocessing(cfg.input_size[-1], cfg.crop_pct, cfg.interpolation, cfg.mean, cfg.std))

    def predict(self, files: List[Path], topk: int = 5, batch_size: int = 8, progress: bool = True) -> List[Dict]:
        """Top-``topk`` classes with probabilities for each file, in the order given."""
        source = _ImageFiles(files)
        p = self.preprocessing
        dataset = ds.GeneratorDataset(source, ["image", "index"], shuffle=False, num_parallel_workers=1,
                                      python_multiprocessing=False)
        dataset = dataset.map(create_transforms(is_training=False, image_resize=p.image_size, crop_pct=p.crop_pct,
                                                interpolation=p.interpolation, mean=p.mean, std=p.std),
                              input_columns="image")
        dataset = dataset.batch(batch_size, drop_remainder=False)
        topk = min(topk, len(self.class_names))
        results: List[Optional[Dict]] = [None] * len(files)
        bar = tqdm(total=len(files), unit="img", desc="predict", disable=not progress, file=sys.stderr)
        for images, indices in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            logits = self.model(ms.Tensor(images)).asnumpy().astype(np.float64)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            for index, row in zip(indices.tolist(), probs):
                order = np.argsort(-row, kind="stable")[:topk]
                entry = {"file": str(files[index]),
                         "predictions": [{"index": int(k), "label": self.class_names[k],
                                          "probability": float(row[k])} for k in order]}
                if index in source.errors:
                    entry = {"file": str(files[index]), "predictions": [], "error": source.errors[index]}
                results[index] = entry
            bar.update(len(indices))
        bar.close()
        return results


def write_results(results: List[Dict], path: Path) -> None:
    """``.json``: the result list; ``.csv``: one row per (file, rank)."""
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "rank", "index", "label", "probability", "error"])
        for entry in results:
            if entry.get("error"):
                writer.writerow([entry["file"], "", "", "", "", entry["error"]])
            for rank, pred in enumerate(entry["predictions"], 1):
                writer.writerow([entry["file"], rank, pred["index"], pred["label"], f"{pred['probability']:.6f}", ""])


def add_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which weights to use: ``--ckpt_path`` or ``--pretrained`` (+ ``--checkpoint``)."""
    parser.add_argument("--model", default="", help="model name (default: from the checkpoint, else xception)")
    parser.add_argument("--ckpt_path", default="", help="a checkpoint written by train.py")
    parser.add_argument("--pretrained", default="", help="a pretrained tag, e.g. mindcv_in1k or keras_in1k")
    parser.add_argument("--checkpoint", default="", help="local file for --pretrained (offline use)")


def predictor_from_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace,
                             **model_kwargs) -> "Predictor":
    """The :class:`Predictor` the weight options name; exactly one of them is required."""
    if bool(args.ckpt_path) == bool(args.pretrained):
        parser.error("pass exactly one of --ckpt_path (your trained checkpoint) or --pretrained TAG; "
                     "random weights are never used.")
    if args.ckpt_path:
        return Predictor.from_checkpoint(args.ckpt_path, args.model, **model_kwargs)
    return Predictor.from_pretrained(args.model or "xception", args.pretrained, args.checkpoint, **model_kwargs)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files and/or folders (searched recursively)")
    add_weight_arguments(parser)
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output", default="", help="also write the results to a .json or .csv file")
    parser.add_argument("--device_target", default="CPU")
    args = parser.parse_args(argv)
    if args.output and Path(args.output).suffix.lower() not in (".json", ".csv"):
        parser.error(f"--output must end in .json or .csv, got {args.output}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    ms.set_device(args.device_target)
    try:
        predictor = predictor_from_arguments(parser, args)
        files = collect_images(args.images)
        results = predictor.predict(files, args.topk, args.batch_size, progress=len(files) > args.batch_size)
    except (DataError, CheckpointError, DownloadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for entry in results:
        shown = entry.get("error") or ", ".join(f"{p['label']} {p['probability']:.3f}" for p in entry["predictions"])
        print(f"{entry['file']}: {shown}")
    if args.output:
        write_results(results, Path(args.output))
    return 1 if any(entry.get("error") for entry in results) else 0


if __name__ == "__main__":
    sys.exit(main())
