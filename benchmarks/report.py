"""Markdown tables of the benchmark results in ``benchmarks/results/*.json`` (the documentation site draws its
performance tables from here, so a re-measurement changes data files, not prose).

    python benchmarks/report.py                     # prints every table
    python benchmarks/report.py model_speed         # one of them
"""
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

RESULTS = Path(__file__).resolve().parent / "results"
IMPL_NAMES = {"ours": "ours (default)", "ours_off": "ours, kernels off", "mindcv": "MindCV 0.3.0",
              "timm": "PyTorch + timm", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO",
              "mindcv030": "MindCV 0.3.0"}


def _load(name: str) -> Dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _machine(data: Dict) -> str:
    machine = data.get("machine", {})
    if not machine:
        return ""
    sgemm = "/".join(str(v) for v in machine.get("sgemm_gflops", []))
    return (f"Measured {machine.get('started', '')} on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores), "
            f"numpy SGEMM {sgemm} GFLOP/s during the run.\n\n")


def model_speed() -> str:
    """Images/s per round for each setting and implementation, with the ratios to kernels-off and PyTorch."""
    data = _load("model_speed")
    rounds: Dict[tuple, Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
    gflops: Dict[tuple, float] = {}
    for row in data["results"]:
        setting = (row["task"], row["size"], row["batch"])
        rounds[setting][row["impl"]].append(row["images_per_s"])
        if row["impl"] == "ours":
            gflops[setting] = max(gflops.get(setting, 0.0), row["gflops"])
    impls = [impl for impl in data["settings"]["impl"] if any(impl in by for by in rounds.values())]
    header = ["setting"] + [IMPL_NAMES.get(i, i) for i in impls] + ["ours vs kernels off", "ours vs PyTorch",
                                                                    "ours GFLOP/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for (task, size, batch), by in rounds.items():
        best = {impl: max(values) for impl, values in by.items()}

        def ratio(other: str) -> str:
            return f"{best['ours'] / best[other]:.2f}x" if "ours" in best and other in best else ""

        cells = [" / ".join(f"{v:.3g}" for v in by.get(impl, [])) for impl in impls]
        lines.append(f"| {task} {size} px, batch {batch} | " + " | ".join(cells)
                     + f" | {ratio('ours_off')} | {ratio('timm')} | {gflops.get((task, size, batch), 0):.0f} |")
    return _machine(data) + "Images/s per round (round 1 / round 2); ratios from each row's best round.\n\n" + \
        "\n".join(lines) + "\n"


def data_pipeline() -> str:
    """Images/s and CPU per image of each pipeline row."""
    data = _load("data_pipeline")
    header = ["augmentation", "pipeline", "images/s", "CPU ms per image", "vs MindCV, same workers"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in data["rows"]:
        versus = f"{row['vs_mindcv']:.2f}x" if row.get("vs_mindcv") else ""
        lines.append(f"| {row['augmentation']} | {row['pipeline']} | {row['images_per_second']:.0f} | "
                     f"{row['cpu_ms_per_image']:.2f} | {versus} |")
    intro = (f"{data['images']} JPEGs, {data['size']} px, batch {data['batch']}, {data['timed_epochs']} timed epochs, "
             f"best of {data['rounds']} rounds, {data['cpus']} cores.\n\n")
    return intro + "\n".join(lines) + "\n"


def dataset_listing() -> str:
    """Start-up of each rank of an 8-card job on an ImageNet-sized folder, ours and MindCV's."""
    data = _load("dataset_listing")
    header = ["package", "first batch, mean over ranks (s)", "slowest rank (s)", "peak RSS, largest rank (MB)"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, row in data["results"].items():
        lines.append(f"| {IMPL_NAMES.get(name, name)} | {row['first_batch_seconds_mean']:.2f} | "
                     f"{row['first_batch_seconds_max']:.2f} | {row['peak_rss_mb_max']:.0f} |")
    intro = (f"{data['files']:,} files in {data['classes']:,} class folders, {data['shards']} shards (one fresh "
             f"process per rank), best of {data['rounds']} rounds, on {data['cpu']}; load average at the end "
             f"{data['load_average'][0]:.2f}.\n\n")
    return intro + "\n".join(lines) + "\n"


TABLES = {"model_speed": model_speed, "data_pipeline": data_pipeline, "dataset_listing": dataset_listing}


def main(argv: List[str]) -> int:
    names = argv or list(TABLES)
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        print(f"unknown table {unknown}; tables: {', '.join(TABLES)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"## {name}\n\n{TABLES[name]()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
