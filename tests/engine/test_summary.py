"""Scalars in MindSpore's summary format, written without a writer process."""
import os

import mindspore as ms
import pytest

from mindcv.engine.summary import ScalarSummary
from tests.helpers import read_events


def test_scalars_are_written_as_mindspore_events_at_each_record(tmp_path):
    summary = ScalarSummary(str(tmp_path / "summary"))
    summary.add_value("scalar", "loss", ms.Tensor(1.5, ms.float32))
    summary.add_value("scalar", "top1", 0.25)
    summary.record(3)
    assert len(read_events(summary.file_path)) == 2  # MindSpore's first event (its version), then step 3
    summary.add_value("scalar", "loss", 2.0)
    summary.add_value("scalar", "loss", 0.75)  # the newest value of a name wins
    summary.record(7)
    summary.record(8)  # nothing queued: nothing written
    summary.close()
    assert os.listdir(tmp_path / "summary") == [os.path.basename(summary.file_path)]
    assert os.path.basename(summary.file_path).startswith("events.out.events.summary.")
    recorded = [(event.step, [(value.tag, value.scalar_value) for value in event.summary.value])
                for event in read_events(summary.file_path)[1:]]
    assert recorded == [(3, [("loss", 1.5), ("top1", 0.25)]), (7, [("loss", 0.75)])]


def test_only_scalars_are_accepted(tmp_path):
    summary = ScalarSummary(str(tmp_path))
    with pytest.raises(ValueError, match="scalars only, got plugin 'image'"):
        summary.add_value("image", "x", ms.Tensor([[1.0]]))
    summary.close()
