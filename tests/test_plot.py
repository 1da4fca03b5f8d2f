"""``python -m mindcv.plot``: the command around mindcv.utils.training_curves."""
import json

from mindcv.plot import main


def test_plot_command_writes_the_png_and_reports_errors_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "metrics.jsonl not found" in err and err.count("\n") == 1
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "lr": 0.1, "train_loss": 1.0}) + "\n")
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "plot.png").is_file()
