"""Hints for the user: 'did you mean' for mistyped names, and how to install an optional extra."""
import difflib
from typing import Iterable

__all__ = ["did_you_mean", "install_hint"]

DISTRIBUTION = "mindcv-xception"  # this package's name on the package index (setup.py)


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.5) -> str:
    """``" Did you mean: a, b?"`` for the closest of ``choices`` (empty when nothing is close)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=cutoff)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def install_hint(extra: str) -> str:
    """The pip command that installs the optional extra ``extra`` of this package."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"
