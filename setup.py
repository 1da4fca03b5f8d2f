"""Packaging for mindcv (Xception on MindSpore): the settings live in pyproject.toml; this shim serves tools that
still run ``python setup.py``."""
from setuptools import setup

setup()
