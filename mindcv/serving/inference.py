"""A model ready for inference with its class names and preprocessing, from a train.py checkpoint or a tag."""
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
from tqdm import tqdm

from ..config import read_saved_run
from ..data.constants import imagenet_class_names
from ..data.sources import ImageFolderSource
from ..data.transforms_factory import Preprocessing
from ..engine.networks import NormalizeInput
from ..models import create_model
from ..models.helpers import load_weights
from ..utils.checkpoint import checkpoint_metadata, read_checkpoint
from ..utils.errors import ConfigError
from ..utils.scores import softmax
from .backends import Runner, check_against, create_runner
from .quantization import Calibration

__all__ = ["Predictor", "Preprocessing"]


def _default_names(num_classes: int) -> List[str]:
    return imagenet_class_names() if num_classes == 1000 else [f"class_{i}" for i in range(num_classes)]


class Predictor:
    """A model in eval mode with its class names, evaluation preprocessing and calibration temperature."""

    def __init__(self, model: ms.nn.Cell, class_names: List[str], preprocessing: Preprocessing,
                 weights_file: Optional[str] = None, temperature: float = 1.0):
        if len(class_names) != model.num_classes:
            raise ConfigError(f"{len(class_names)} class names for a {model.num_classes}-class model.")
        if not temperature > 0:
            raise ConfigError(f"The calibration temperature must be positive, got {temperature}.")
        self.model = model
        self.class_names = class_names
        self.preprocessing = preprocessing
        self.weights_file = weights_file
        self.temperature = temperature  # probabilities are softmax(logits / temperature) (validate.py --calibrate)
        self.network = NormalizeInput(model, preprocessing.mean, preprocessing.std)
        self.network.set_train(False)
        self.last_run: Dict = {}

    @classmethod
    def from_checkpoint(cls, checkpoint_path: str, model_name: str = "", default_model: str = "",
                        **model_kwargs) -> "Predictor":
        """A model trained by ``train.py``: name, classes and preprocessing come from the checkpoint; the weights
        load strictly (their classifier sets the number of classes). ``model_name`` overrides the checkpoint's
        name; ``default_model`` names a checkpoint that does not say."""
        state = read_checkpoint(checkpoint_path)
        meta = checkpoint_metadata(state)
        saved = read_saved_run(meta["config"], f"the options saved in {checkpoint_path}") if "config" in meta else None
        name = model_name or meta.get("model") or default_model
        if not name:
            raise ConfigError(f"{checkpoint_path} does not say which model it holds; pass --model.")
        if "class_names" in meta:
            class_names = json.loads(meta["class_names"])
        else:
            weight = state.get("classifier.weight")
            class_names = _default_names(weight.shape[0] if weight is not None else 0)
        model = create_model(name, num_classes=len(class_names), in_channels=saved.in_channels if saved else 3,
                             **model_kwargs)
        load_weights(model, state, f"checkpoint {checkpoint_path}")
        cfg = model.pretrained_cfg
        if saved is not None:  # what the run evaluated with
            preprocessing = saved.preprocessing
        else:  # a checkpoint from outside train.py: the model's published preprocessing, or Xception's on ImageNet
            preprocessing = cfg.preprocessing if cfg else Preprocessing()
        return cls(model, class_names, preprocessing, checkpoint_path, float(meta.get("temperature", 1.0)))

    @classmethod
    def from_pretrained(cls, model_name: str, tag: str = "", checkpoint_path: str = "",
                        **model_kwargs) -> "Predictor":
        """Published weights (``tag`` or the default; ``hf-hub:ORG/NAME`` or an exported folder with their class
        names and temperature), downloaded or read from ``checkpoint_path``; a file whose classifier does not match
        the tag's is an error."""
        model = create_model(model_name, pretrained=tag or True, checkpoint_path=checkpoint_path, **model_kwargs)
        cfg = model.pretrained_cfg
        return cls(model, list(cfg.label_names) or _default_names(cfg.num_classes),
                   cfg.preprocessing,
                   checkpoint_path or None, cfg.temperature)

    def _runner(self, backend: str, images: np.ndarray, batch_size: int, precision: str,
                cache_dir: Optional[str], calibration: Optional[Calibration]) -> Runner:
        """The backend's runner, checked against MindSpore on ``images`` (the first batch)."""
        mindspore_runner = create_runner("mindspore", self.network, self.model, (), (), batch_size, 0)
        if backend == "mindspore" and precision in ("auto", "fp32"):
            return mindspore_runner
        p = self.preprocessing
        runner = create_runner(backend, self.network, self.model, p.mean, p.std, batch_size, p.image_size,
                               self.weights_file, cache_dir, precision, calibration, p)
        self.last_run["check"] = check_against(runner, mindspore_runner(images), images)
        return runner

    def predict(self, files: List[Path], topk: Optional[int] = None, batch_size: int = 8, progress: bool = True,
                backend: str = "mindspore", precision: str = "auto", cache_dir: Optional[str] = None,
                calibration: Optional[Calibration] = None) -> List[Dict]:
        """Top-``topk`` classes (default: 5, or all when there are fewer) with probabilities for each file, in the
        order given. ``backend``: ``mindspore``, or ``onnxruntime`` / ``openvino`` on the model's cached ONNX
        export (see :mod:`mindcv.serving.backends`; ``precision="int8"`` quantizes it on ``calibration``), checked
        against MindSpore on the first batch. ``last_run``
        then holds the backend, its precision, the check and the images/s after the first batch."""
        topk = min(5, len(self.class_names)) if topk is None else topk
        if not 1 <= topk <= len(self.class_names):
            raise ConfigError(f"topk must be between 1 and the number of classes ({len(self.class_names)}), "
                              f"got {topk}.")
        source = ImageFolderSource([(path, index) for index, path in enumerate(files)], self.class_names,
                                   replace_bad=False)
        p = self.preprocessing
        dataset = ds.GeneratorDataset(source, ["image", "index"], shuffle=False, num_parallel_workers=1,
                                      python_multiprocessing=False)
        dataset = dataset.map(p.transforms(normalize=False), input_columns="image")
        dataset = dataset.batch(batch_size, drop_remainder=False)
        results: List[Optional[Dict]] = [None] * len(files)
        bar = tqdm(total=len(files), unit="img", desc="predict", disable=not progress, file=sys.stderr)
        self.last_run = {"backend": backend}
        runner, position, timed_images, started = None, 0, 0, 0.0
        for images, indices in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            if runner is None:
                runner = self._runner(backend, images, batch_size, precision, cache_dir, calibration)
                started = time.perf_counter()
            else:
                timed_images += len(indices)
            logits = runner(images)
            probs = softmax(logits / self.temperature)
            for index, row in zip(range(position, position + len(indices)), probs):
                entry = {"file": str(files[index]), "predictions": []}
                if indices[index - position] < 0:  # unreadable: the source gave a placeholder
                    entry["error"] = f"cannot read image: {source.bad_images.reasons[str(files[index])]}"
                else:
                    entry["predictions"] = [{"index": int(k), "label": self.class_names[k],
                                             "probability": float(row[k])}
                                            for k in np.argsort(-row, kind="stable")[:topk]]
                results[index] = entry
            position += len(indices)
            bar.update(len(indices))
        bar.close()
        seconds = time.perf_counter() - started
        self.last_run.update(precision=runner.precision if runner else "", timed_images=timed_images,
                             images_per_second=timed_images / seconds if timed_images else None)
        return results
