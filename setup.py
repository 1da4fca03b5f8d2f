"""Packaging for mindcv (Xception on MindSpore)."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
version = {}
exec((ROOT / "mindcv" / "__init__.py").read_text().split("\nfrom ", 1)[0], version)

setup(
    name="mindcv-xception",
    version=version["__version__"],
    description="Xception on MindSpore: model zoo entry, pretrained loading, YAML training and validation",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["mindcv", "mindcv.*"]),
    include_package_data=True,
    package_data={"mindcv": ["data/embedded/*.npz", "data/imagenet_classes.tsv", "ops/csrc/*.cc", "ops/csrc/*.h"]},
    install_requires=["numpy>=1.21", "pyyaml>=5.4", "tqdm>=4.60", "pillow>=9.0"],
    extras_require={
        # MindSpore is not a hard requirement: Ascend and GPU users install their own build.
        # 2.7.0 is the fastest CPU release measured (2.9+ slows CPU convolutions ~100x).
        "cpu": ["mindspore==2.7.0"],
        # Reading Keras .h5 and timm .safetensors weights (python -m mindcv.convert, pretrained keras/timm tags).
        "convert": ["h5py>=3.0", "safetensors>=0.4"],
        # Checking ONNX exports (python -m mindcv.export --format ONNX) and predict --backend onnxruntime.
        "export": ["onnx>=1.14", "onnxruntime>=1.16"],
        # predict --backend openvino.
        "openvino": ["openvino>=2024.0"],
        # Training plots (python -m mindcv.plot, and plot.png at the end of training).
        "plot": ["matplotlib>=3.5"],
        # Experiment tracking: TensorBoard event files of every run (tensorboardX writes them; TensorBoard itself
        # only views them) and MLflow runs with --mlflow True (the full package: its local SQLite store). MLflow's
        # pandas would otherwise move numpy to 2.x, which MindSpore 2.7 cannot import.
        "tracking": ["tensorboardX>=2.6", "mlflow>=2.10", "numpy<2"],
        # Weights from the Hugging Face Hub: create_model(..., pretrained="hf-hub:ORG/NAME") downloads and caches.
        "hub": ["huggingface_hub>=0.23"],
        # The documentation site (mkdocs build -f docs/mkdocs.yml).
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
        # The tests use all of the above but docs, pytest-randomly (every run in a new order: no test depends on
        # another's leftovers), TensorBoard (its reader checks our event files), MLflow's server (run on 127.0.0.1),
        # and Keras 3 on JAX as the reference for the parity test (jax < 0.5 keeps
        # numpy < 2, which MindSpore 2.7 needs).
        "test": ["pytest>=7", "pytest-randomly>=3.15", "keras>=3.0", "jax<0.5", "jaxlib<0.5", "h5py>=3.0",
                 "safetensors>=0.4", "onnx>=1.14", "onnxruntime>=1.16", "openvino>=2024.0", "matplotlib>=3.5",
                 "tensorboardX>=2.6", "mlflow>=2.10", "tensorboard>=2.15", "huggingface_hub>=0.23"],
    },
)
