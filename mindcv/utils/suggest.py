"""'Did you mean' hints for mistyped names."""
import difflib
from typing import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.5) -> str:
    """``" Did you mean: a, b?"`` for the closest of ``choices`` (empty when nothing is close)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=cutoff)
    return f" Did you mean: {', '.join(close)}?" if close else ""
