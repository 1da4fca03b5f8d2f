"""Weights in the Hugging Face model-repository layout, for sharing on the Hub or any folder.

A folder holds ``model.safetensors`` (the model's parameters under the checkpoint names, written and read by
MindSpore's own safetensors support), ``config.json`` (architecture, classes, model options, the whole evaluation
preprocessing, the calibration temperature and the weights' sha256) and ``README.md`` (a model card).
``python -m mindcv.export --format safetensors`` writes it (:func:`save_hub_folder`); ``create_model(name,
pretrained="hf-hub:ORG/NAME[@REVISION]")``, ``create_model("hf-hub:ORG/NAME", pretrained=True)`` or
``pretrained=<folder>`` read it (:func:`hub_pretrained_cfg`, called by :mod:`.helpers`).

Downloads go through ``huggingface_hub`` (the ``hub`` extra) into its cache, honouring ``HF_ENDPOINT`` and
``HF_HUB_CACHE`` as set when the weights are requested; once cached they load offline. The weights are checked
on every load: their sha256 must equal the one ``config.json`` records and, for a download, the one the Hub
served them under (its ETag); anything else is refused before a parameter is loaded.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import mindspore as ms

from ..utils.download import sha256_file
from ..utils.errors import CheckpointError, ConfigError
from ..utils.fileio import fsync_directory
from .pretrained import PretrainedCfg

__all__ = ["HUB_PREFIX", "WEIGHTS_FILE", "CONFIG_FILE", "CARD_FILE", "is_hub_source", "hub_config",
           "hub_pretrained_cfg", "read_hub_config", "save_hub_folder", "model_card"]

HUB_PREFIX = "hf-hub:"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
_REQUIRED = ("architecture", "num_classes", "label_names", "preprocessing", "weights_sha256")
_PREPROCESSING = ("input_size", "crop_pct", "interpolation", "mean", "std")

CITATION = """@inproceedings{chollet2017xception,
  title={Xception: Deep Learning with Depthwise Separable Convolutions},
  author={Chollet, Fran{\\c{c}}ois},
  booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={1251--1258},
  year={2017}
}"""


def is_hub_source(pretrained: Any) -> bool:
    """True for ``hf-hub:ORG/NAME[@REVISION]`` and for a folder holding ``config.json``."""
    if not isinstance(pretrained, str) or not pretrained:
        return False
    return pretrained.startswith(HUB_PREFIX) or (Path(pretrained).expanduser() / CONFIG_FILE).is_file()


def _download(source: str, names: Sequence[str]) -> Dict[str, Path]:
    """The files ``names`` of ``hf-hub:ORG/NAME[@REVISION]``, through the Hub's cache."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise ConfigError(f"{source} needs huggingface_hub: pip install huggingface_hub (or mindcv-xception[hub]); "
                          "or download the folder and pass its path.") from None
    repo, _, revision = source[len(HUB_PREFIX):].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ConfigError(f"'{source}' is not a Hub repository: write hf-hub:ORG/NAME (or hf-hub:ORG/NAME@REVISION).")
    files = {}
    for name in names:
        try:
            files[name] = Path(hf_hub_download(repo, name, revision=revision or None,
                                               endpoint=os.environ.get("HF_ENDPOINT") or None,
                                               cache_dir=os.environ.get("HF_HUB_CACHE") or None))
        except LocalEntryNotFoundError as exc:
            raise CheckpointError(f"{name} of {source} is neither cached nor reachable ({str(exc).splitlines()[0]}); "
                                  "connect to the Hub (HF_ENDPOINT) once, or pass a local folder.") from None
        except (HfHubHTTPError, OSError) as exc:
            raise CheckpointError(f"Downloading {name} of {source} failed: {str(exc).splitlines()[0]}.") from None
    return files


def read_hub_config(path: Union[str, Path]) -> Dict[str, Any]:
    """``config.json`` as a dict, with every key a load needs; otherwise one :class:`CheckpointError`."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} could not be read as JSON ({exc}); download or export the folder again.") \
            from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object; download or export the folder again.")
    missing = [key for key in _REQUIRED if key not in config]
    missing += [f"preprocessing.{key}" for key in _PREPROCESSING if key not in config.get("preprocessing", {})]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: it was not written by python -m mindcv.export "
                              "--format safetensors.")
    return config


def _check_weights(weights: Path, expected: str, served: Optional[str], source: str) -> None:
    actual = sha256_file(weights)
    if served is not None and actual != served:
        raise CheckpointError(f"{weights.name} of {source} has sha256 {actual}, but the Hub served it as {served}: "
                              "the download was changed or damaged. Delete it from the cache and download it again; "
                              "nothing was loaded.")
    if actual != expected:
        raise CheckpointError(f"{weights.name} of {source} has sha256 {actual}, but config.json records {expected}: "
                              "the file was changed or damaged. Download or export it again; nothing was loaded.")


def _served_sha256(cached: Path) -> Optional[str]:
    """The sha256 the Hub gave a cached file: its blob is named after the file's ETag, which is the sha256 for
    large (LFS) files."""
    blob = Path(os.path.realpath(cached)).name
    return blob if len(blob) == 64 and all(c in "0123456789abcdef" for c in blob) else None


def hub_config(source: str) -> Dict[str, Any]:
    """``config.json`` of a Hub repository or exported folder (its architecture, classes, ...), without fetching
    the weights."""
    if source.startswith(HUB_PREFIX):
        return read_hub_config(_download(source, (CONFIG_FILE,))[CONFIG_FILE])
    return read_hub_config(Path(source).expanduser() / CONFIG_FILE)


def hub_pretrained_cfg(source: str) -> PretrainedCfg:
    """The pretrained config of a Hub repository or exported folder: its weights file (checked) and everything
    ``config.json`` says."""
    if source.startswith(HUB_PREFIX):
        files = _download(source, (CONFIG_FILE, WEIGHTS_FILE))
        config_path, weights, served = files[CONFIG_FILE], files[WEIGHTS_FILE], _served_sha256(files[WEIGHTS_FILE])
    else:
        folder = Path(source).expanduser()
        config_path, weights, served = folder / CONFIG_FILE, folder / WEIGHTS_FILE, None
        if not weights.is_file():
            raise CheckpointError(f"{folder} holds no {WEIGHTS_FILE}; export the model again with python -m "
                                  "mindcv.export --format safetensors.")
    config = read_hub_config(config_path)
    _check_weights(weights, config["weights_sha256"], served, source)
    prep = config["preprocessing"]
    return PretrainedCfg(file=str(weights), num_classes=int(config["num_classes"]),
                         input_size=tuple(prep["input_size"]), crop_pct=float(prep["crop_pct"]),
                         interpolation=prep["interpolation"], mean=tuple(prep["mean"]), std=tuple(prep["std"]),
                         first_conv=config.get("first_conv", "conv1"),
                         classifier=config.get("classifier", "classifier"),
                         model_args=dict(config.get("model_args", {})), source=source,
                         label_names=tuple(config["label_names"]), temperature=float(config.get("temperature", 1.0)),
                         top1=config.get("top1"), top5=config.get("top5"), architecture=config["architecture"])


def model_card(config: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """``README.md`` of an exported folder: Hub metadata, what the weights are, how they score and were trained,
    how to load them, license and citation. ``facts``: ``name``, ``source``, ``metrics`` (rows of name, value),
    ``recipe`` (the resolved options as YAML text), ``data``."""
    arch, prep = config["architecture"], config["preprocessing"]
    size = prep["input_size"][-1]
    lines = ["---", "library_name: mindcv", "license: apache-2.0", "pipeline_tag: image-classification",
             "tags:", "- image-classification", "- mindspore", f"- {arch}", "---", "",
             f"# {facts.get('name') or arch}", "",
             f"{arch} (Xception, Chollet 2017) for MindSpore, exported by mindcv-xception from {facts['source']}: "
             f"{config['num_classes']} classes, {size} px input.", "", "## Results", ""]
    metrics = facts.get("metrics") or []
    if metrics:
        lines += ["| metric | value |", "| --- | --- |", *[f"| {name} | {value} |" for name, value in metrics]]
    else:
        lines.append("No evaluation was recorded with these weights.")
    lines += ["", "## Use", "", "```python", "from mindcv import create_model", "",
              f'model = create_model("{arch}", pretrained="hf-hub:ORG/NAME")  # or the path of this folder',
              "```", "", "```bash", "python -m mindcv.predict photos/ --pretrained hf-hub:ORG/NAME --topk 3", "```",
              "", "## Preprocessing", "",
              f"Resize the shorter side to {round(size / prep['crop_pct'])} px ({prep['interpolation']}), center-crop "
              f"{size} px (crop_pct {prep['crop_pct']}), normalise with mean {list(prep['mean'])} and std "
              f"{list(prep['std'])} (0-255 pixel units), channels first."]
    if config.get("temperature", 1.0) != 1.0:
        lines.append(f"Probabilities are softmax(logits / {config['temperature']:.4g}) (a fitted calibration "
                     "temperature).")
    lines += ["", "## Classes", "", ", ".join(config["label_names"][:50])
              + (f", ... ({len(config['label_names'])} in all)" if len(config["label_names"]) > 50 else ""), ""]
    if facts.get("data"):
        lines += ["## Data", "", facts["data"], ""]
    if facts.get("recipe"):
        lines += ["## Training recipe", "", "The resolved options of `train.py`:", "", "```yaml",
                  facts["recipe"].rstrip(), "```", ""]
    lines += ["## License", "", "Apache-2.0 for the code that wrote these files; the weights carry the terms of the "
              "data they were trained on.", "", "## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def save_hub_folder(model: ms.nn.Cell, folder: Union[str, Path], *, architecture: str, label_names: Sequence[str],
                    preprocessing: Mapping[str, Any], facts: Mapping[str, Any], temperature: float = 1.0,
                    model_args: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``folder`` (which must not exist) with the model's parameters, ``config.json`` and the model card;
    the folder appears complete or not at all."""
    folder = Path(folder).expanduser()
    if folder.exists():
        raise ConfigError(f"{folder} exists; the export writes a new folder. Choose another --output or remove it.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        weights = staging / WEIGHTS_FILE
        ms.save_checkpoint([{"name": p.name, "data": p} for p in model.get_parameters()], str(weights),
                           format="safetensors")
        config = {"architecture": architecture, "library_name": "mindcv", "num_classes": len(label_names),
                  "in_channels": getattr(model, "in_channels", 3), "label_names": list(label_names),
                  "model_args": dict(model_args or {}), "first_conv": "conv1", "classifier": "classifier",
                  "preprocessing": {key: (list(value) if isinstance(value, (tuple, list)) else value)
                                    for key, value in preprocessing.items()},
                  "pixel_range": 255, "temperature": temperature, "weights_sha256": sha256_file(weights)}
        config.update({key: value for key, value in facts.get("scores", {}).items()})
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (staging / CARD_FILE).write_text(model_card(config, facts), encoding="utf-8")
        for path in staging.iterdir():
            path.chmod(0o644)  # MindSpore writes checkpoints read-only for their owner; these files are shared
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        staging.chmod(0o755)
        os.replace(staging, folder)
        fsync_directory(folder.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
