"""Training curves of a run: loss, top-1/top-5 and learning rate over epochs, from ``metrics.jsonl``."""
import json
from pathlib import Path
from typing import Dict, List, Optional

from .errors import MindcvError
from .suggest import install_hint
from .fileio import atomic_path

__all__ = ["read_metrics", "plot_run", "PlotError"]

PLOT_SIZE = (12.0, 4.0)  # inches; at PLOT_DPI gives a 1200 x 400 pixel PNG
PLOT_DPI = 100


class PlotError(MindcvError):
    """No metrics to plot, or matplotlib missing."""


def read_metrics(run_dir: Path) -> List[Dict]:
    """Per-epoch rows of ``run_dir/metrics.jsonl``; for an epoch logged twice (resumed run) the last row wins."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise PlotError(f"{path} not found; pass the run directory of train.py (its ckpt_save_dir).")
    rows: Dict[int, Dict] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PlotError(f"{path} line {number} is not JSON ({exc.msg}).") from exc
        rows[int(row["epoch"])] = row
    if not rows:
        raise PlotError(f"{path} holds no epochs yet.")
    return [rows[epoch] for epoch in sorted(rows)]


def plot_run(run_dir: Path, output: Optional[Path] = None) -> Path:
    """Draw the curves of ``run_dir`` into ``output`` (default ``run_dir/plot.png``), written atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotError(f"Plotting needs matplotlib: {install_hint('plot')}.") from exc
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    output = Path(output) if output else run_dir / "plot.png"
    epochs = [row["epoch"] for row in rows]

    def series(key: str) -> List[float]:
        return [row.get(key, float("nan")) for row in rows]

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=PLOT_SIZE, dpi=PLOT_DPI)
    ax_loss.plot(epochs, series("train_loss"), marker="o", label="train loss")
    if any("val_loss" in row for row in rows):
        ax_loss.plot(epochs, series("val_loss"), marker="o", label="val loss")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_loss.legend()
    for key, label in (("val_top1", "top-1"), ("val_top5", "top-5")):
        if any(key in row for row in rows):
            ax_acc.plot(epochs, series(key), marker="o", label=label)
    ax_acc.set(title="validation accuracy (%)", xlabel="epoch")
    if ax_acc.lines:
        ax_acc.legend()
    ax_lr.plot(epochs, series("lr"), marker="o")
    ax_lr.set(title="learning rate (end of epoch)", xlabel="epoch")
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    with atomic_path(output, suffix=".png") as partial:
        fig.savefig(partial, dpi=PLOT_DPI)
    plt.close(fig)
    return output
