"""Training curves from metrics.jsonl."""
import json

import pytest
from PIL import Image

from mindcv.utils.training_curves import PLOT_DPI, PLOT_SIZE, PlotError, plot_run, read_metrics


def test_training_leaves_a_plot_of_the_expected_size(trained_run):
    path = trained_run / "plot.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.size == (int(PLOT_SIZE[0] * PLOT_DPI), int(PLOT_SIZE[1] * PLOT_DPI))
        assert len(image.getcolors(1 << 20)) > 10  # drawn, not blank


def test_curves_for_any_run_dir(tmp_path, capsys):
    rows = [{"epoch": 1, "lr": 0.1, "train_loss": 2.0, "val_top1": 10.0, "val_top5": 50.0, "val_loss": 2.1},
            {"epoch": 2, "lr": 0.05, "train_loss": 9.0},
            {"epoch": 2, "lr": 0.05, "train_loss": 1.5, "val_top1": 30.0, "val_top5": 70.0, "val_loss": 1.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["train_loss"] for r in read_metrics(tmp_path)] == [2.0, 1.5]  # a resumed epoch: last row wins
    assert plot_run(tmp_path, tmp_path / "curves.png") == tmp_path / "curves.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "metrics.jsonl"]  # no temporary file left


def test_missing_or_bad_metrics_are_clear_errors(tmp_path):
    with pytest.raises(PlotError, match="metrics.jsonl not found"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n')
    with pytest.raises(PlotError, match="line 2 is not JSON"):
        plot_run(tmp_path)
