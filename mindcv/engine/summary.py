"""Scalars in MindSpore's summary format (what MindInsight reads), written by the training process itself.

MindSpore's ``SummaryRecord`` hands its events to a writer process it forks, and a fork of a process that
already runs threads (MindSpore's runtime, the data pipeline, the CPU kernels' pool) can leave the child
deadlocked on a lock another thread held; closing the record then waits for the child forever. ``ScalarSummary``
packs and writes the same events with MindSpore's own event packer and writer, in the calling process."""
import os
import time
from typing import Dict

import numpy as np
from mindspore.train.summary._summary_adapter import get_event_file_name, package_summary_event
from mindspore.train.summary.enums import WriterPluginEnum
from mindspore.train.summary.writer import SummaryWriter

__all__ = ["ScalarSummary"]


class ScalarSummary:
    """``SummaryRecord``'s ``add_value("scalar", ...)`` / ``record(step)`` / ``close()`` for scalars, without a
    writer process. One file ``events.out.events.summary.<time>.<host>_MS`` in ``log_dir``, as MindSpore names
    it; each ``record`` is written and flushed at once."""

    def __init__(self, log_dir: str):
        os.makedirs(log_dir, exist_ok=True)
        self.file_path = os.path.join(log_dir, get_event_file_name("events", "_MS", str(int(time.time()))))
        self._writer = SummaryWriter(self.file_path)
        self._pending: Dict[str, np.ndarray] = {}

    def add_value(self, plugin: str, name: str, value) -> None:
        """Queue scalar ``name`` (a Tensor or number) for the next ``record``; the newest value of a name wins."""
        if plugin != "scalar":
            raise ValueError(f"ScalarSummary records scalars only, got plugin {plugin!r} for {name!r}.")
        data = value.asnumpy() if hasattr(value, "asnumpy") else value
        self._pending[name] = np.asarray(data, np.float32)

    def record(self, step: int) -> None:
        """Write the queued scalars as one event at ``step``."""
        if not self._pending:
            return
        values = [{"_type": "Scalar", "name": name, "data": data} for name, data in self._pending.items()]
        event = package_summary_event(values, step, time.time())
        self._writer.write(WriterPluginEnum.SUMMARY.value, event.SerializeToString())
        self._writer.flush()
        self._pending.clear()

    def close(self) -> None:
        self._writer.close()
