"""Training curves of a run: loss, top-1/top-5 and learning rate over epochs, from ``metrics.jsonl``.

    python -m mindcv.plot runs/xception_fashion_mnist            # writes runs/xception_fashion_mnist/plot.png

``train.py`` draws it at the end of training when matplotlib is installed (``pip install
'mindcv-xception[plot]'``).
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .cli import run_cli
from .utils.training_curves import plot_run

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindcv.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a train.py run directory (holds metrics.jsonl)")
    parser.add_argument("--output", default="", help="PNG to write (default: <run_dir>/plot.png)")
    args = parser.parse_args(argv)

    def draw() -> int:
        print(f"Wrote {plot_run(Path(args.run_dir), Path(args.output) if args.output else None)}")
        return 0

    return run_cli(draw)


if __name__ == "__main__":
    sys.exit(main())
