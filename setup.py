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
    package_data={"mindcv": ["data/embedded/*.npz"]},
    install_requires=["numpy>=1.21", "pyyaml>=5.4", "tqdm>=4.60", "pillow>=9.0"],
    extras_require={
        # MindSpore is not a hard requirement: Ascend and GPU users install their own build.
        # 2.7.0 is the fastest CPU release measured (2.9+ slows CPU convolutions ~100x).
        "cpu": ["mindspore==2.7.0"],
        "test": ["pytest>=7"],
    },
)
