"""Process-placement facts read from the launcher's environment (no communication needed)."""
import os

__all__ = ["local_rank", "launched_by_msrun"]


def launched_by_msrun() -> bool:
    """True inside a worker process started by ``msrun``."""
    return "MS_WORKER_NUM" in os.environ and os.environ.get("MS_ROLE", "MS_WORKER") == "MS_WORKER"


def local_rank() -> int:
    """Index of this process among the workers of its node (0 when not launched distributed).

    ``msrun`` exports the local index as ``DEVICE_ID``; other launchers use ``LOCAL_RANK``.
    """
    if launched_by_msrun() and os.environ.get("DEVICE_ID", "").isdigit():
        return int(os.environ["DEVICE_ID"])
    value = os.environ.get("LOCAL_RANK", "")
    return int(value) if value.isdigit() else 0
