"""Markdown tables of the benchmark results in ``benchmarks/results/*.json`` (the documentation site draws its
performance tables from here, so a re-measurement changes data files, not prose).

    python benchmarks/report.py                     # prints every table
    python benchmarks/report.py model_speed         # one of them
"""
import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

RESULTS = Path(__file__).resolve().parent / "results"
IMPL_NAMES = {"ours": "ours (default)", "ours_off": "ours, kernels off", "ours_bf16": "ours, matmul precision medium",
              "mindcv": "MindCV 0.3.0",
              "timm": "PyTorch + timm, eager", "timm_cl": "PyTorch, channels_last", "timm_compile": "PyTorch, compile",
              "timm_bf16": "PyTorch, bf16 autocast (channels_last)", "onnxruntime": "ONNX Runtime (our export)",
              "openvino": "OpenVINO (our export)", "openvino_bf16": "OpenVINO bf16 (our export)",
              "openvino_int8": "ours, int8 serving (OpenVINO)",
              "mindcv030": "MindCV 0.3.0"}
SHORT_NAMES = {"mindcv": "MindCV", "timm": "PyTorch", "timm_cl": "PyTorch CL", "timm_compile": "PyTorch compile",
               "timm_bf16": "PyTorch bf16", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO",
               "openvino_bf16": "OpenVINO bf16"}


def _header(columns: List[str]) -> List[str]:
    """The first two lines of a Markdown table with these columns."""
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]


def _load(name: str) -> Dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _machine(data: Dict) -> str:
    machine = data.get("machine", {})
    if not machine:
        return ""
    rates = machine.get("gemm_gflops")
    if rates:  # start and end of the run, each {precision: rate}
        ceilings = ", ".join(f"{precision} {'/'.join(str(r[precision]) for r in rates if precision in r)}"
                             f" {'GOP/s' if precision == 'int8' else 'GFLOP/s'}" for precision in rates[0])
        measured = (f"2048^3 matrix products at the start / end of the run: {ceilings} (fp32: numpy; bf16, int8: "
                    "OpenVINO)")
    else:
        measured = f"numpy SGEMM {'/'.join(str(v) for v in machine.get('sgemm_gflops', []))} GFLOP/s during the run"
    return f"Measured {machine.get('started', '')} on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores), " \
           f"{measured}.\n\n"


def fastest_peer(best: Dict[str, float], specs: Dict[str, Dict], impl: str) -> Optional[str]:
    """The fastest implementation marked ``peer`` in ``specs`` among ``best`` (name -> img/s) that ``impl`` is held
    to: those of its precision, or of ``held_to`` (int8 serving is held to the fastest bf16 peer)."""
    precision = specs[impl].get("held_to", specs[impl]["precision"])
    peers = [name for name in best if specs[name].get("peer") and specs[name]["precision"] == precision]
    return max(peers, key=best.get, default=None)


def model_speed() -> str:
    """Images/s per round of each implementation per setting; ours against kernels-off and against the fastest
    peer of the same precision (fp32 with fp32, bf16 with bf16)."""
    data = _load("model_speed")
    specs = data["implementations"]
    rounds: Dict[tuple, Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
    for row in data["results"]:
        rounds[(row["task"], row["size"], row["batch"])][row["impl"]].append(row["images_per_s"])
    header = ["setting", "implementation", "precision", "img/s per round", "vs kernels off",
              "vs fastest peer of its precision"]
    lines = _header(header)
    for (task, size, batch), by in rounds.items():
        best = {impl: max(values) for impl, values in by.items()}
        for impl in [name for name in specs if name in by]:
            spec = specs[impl]
            peer = fastest_peer(best, specs, impl)
            off = f"{best[impl] / best['ours_off']:.2f}x" if impl == "ours" and "ours_off" in best else ""
            versus = f"{best[impl] / best[peer]:.2f}x ({IMPL_NAMES.get(peer, peer)})" if peer and not spec["peer"] \
                else ""
            cells = [f"{task} {size} px, batch {batch}", IMPL_NAMES.get(impl, spec["label"]), spec["precision"],
                     " / ".join(f"{v:.3g}" for v in by[impl]), off, versus]
            lines.append("| " + " | ".join(cells) + " |")
    flags = ", ".join(data["machine"].get("cpu_flags", []))
    return (_machine(data) + f"CPU flags: {flags or 'not recorded'}. Images/s per round (round 1 / round 2); "
            "ratios from each row's best round.\n\n" + "\n".join(lines) + "\n")


def _ceilings(machine: Dict) -> Dict[str, float]:
    """The best matrix-product rate of each precision measured during a run (GFLOP/s): ``gemm_gflops`` (fp32, bf16,
    int8 at start and end), or ``sgemm_gflops`` (fp32 only) in runs that measured nothing else."""
    measured = machine.get("gemm_gflops") or [{"fp32": rate} for rate in machine.get("sgemm_gflops", [])]
    return {precision: max(c[precision] for c in measured if precision in c)
            for precision in {p for c in measured for p in c}}


def model_speed_chart() -> str:
    """One bar chart per setting, as inline SVG: achieved GFLOP/s of ours, of the strongest peer of the same
    precision and the machine's matrix-product rate of that precision (the ceiling), fp32, bf16 and int8 (GOP/s)
    side by side."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = _load("model_speed")
    specs, ceilings = data["implementations"], _ceilings(data["machine"])
    best: Dict[tuple, Dict[str, Dict]] = defaultdict(dict)
    for row in data["results"]:
        kept = best[(row["task"], row["size"], row["batch"])].get(row["impl"])
        if kept is None or row["gflops"] > kept["gflops"]:
            best[(row["task"], row["size"], row["batch"])][row["impl"]] = row
    settings = list(best)
    columns = min(3, len(settings))
    rows_of_charts = -(-len(settings) // columns)
    figure, axes = plt.subplots(rows_of_charts, columns, figsize=(3.2 * columns, 2.9 * rows_of_charts), sharey=True,
                                squeeze=False)
    colours = {"ours": "#2b6cb0", "peer": "#dd6b20", "ceiling": "#a0aec0"}
    for axis in axes.flat[len(settings):]:
        axis.set_visible(False)
    for axis, setting in zip(axes.flat, settings):
        gflops, bars = {impl: row["gflops"] for impl, row in best[setting].items()}, []
        for precision, ours in (("fp32", "ours"), ("bf16", "ours_bf16"), ("int8", "openvino_int8")):
            peer = fastest_peer(gflops, specs, ours) if ours in specs else None
            if ours in gflops:
                bars.append((f"ours {precision}", gflops[ours], "ours"))
            drawn_peer = peer if peer and specs[peer]["precision"] == precision else None  # int8's: with bf16
            if drawn_peer:
                bars.append((SHORT_NAMES.get(peer, peer), gflops[peer], "peer"))
            if (ours in gflops or drawn_peer) and precision in ceilings:
                bars.append((f"{precision} GEMM", ceilings[precision], "ceiling"))
        positions = range(len(bars))
        axis.bar(positions, [b[1] for b in bars], color=[colours[b[2]] for b in bars])
        for position, (_, value, _) in zip(positions, bars):
            axis.text(position, value, f"{value:.0f}", ha="center", va="bottom", fontsize=7)
        axis.set_xticks(list(positions), [b[0] for b in bars], rotation=45, ha="right", fontsize=7)
        task, size, batch = setting
        axis.set_title(f"{task} {size} px, batch {batch}", fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    for axis in axes[:, 0]:
        axis.set_ylabel("GFLOP/s", fontsize=8)
    figure.tight_layout()
    text = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "model_speed", "svg.fonttype": "none"}):
        figure.savefig(text, format="svg", metadata={"Date": None})
    plt.close(figure)
    svg = text.getvalue()
    return svg[svg.index("<svg"):] + "\n"


def data_pipeline() -> str:
    """Images/s and CPU per image of each pipeline row."""
    data = _load("data_pipeline")
    header = ["augmentation", "pipeline", "images/s", "CPU ms per image", "vs MindCV, same workers"]
    lines = _header(header)
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
    lines = _header(header)
    for name, row in data["results"].items():
        lines.append(f"| {IMPL_NAMES.get(name, name)} | {row['first_batch_seconds_mean']:.2f} | "
                     f"{row['first_batch_seconds_max']:.2f} | {row['peak_rss_mb_max']:.0f} |")
    intro = (f"{data['files']:,} files in {data['classes']:,} class folders, {data['shards']} shards (one fresh "
             f"process per rank), best of {data['rounds']} rounds, on {data['cpu']}; load average at the end "
             f"{data['load_average'][0]:.2f}.\n\n")
    return intro + "\n".join(lines) + "\n"


def eval_backends() -> str:
    """validate.py's images/s per backend (as printed, and steady after the first batch) against the bare rate."""
    data = _load("eval_backends")
    header = ["round", "backend", "precision", "validate.py img/s", "steady img/s", "bare img/s", "steady / bare",
              "bare, share of the GEMM rate"]
    lines = _header(header)
    for row in sorted(data["results"], key=lambda row: (row["backend"], row["precision"], row["round"])):
        rates = [f"{row[key]:.1f}" for key in ("validate_images_per_s", "steady_images_per_s", "bare_images_per_s")]
        share = f"{100 * row['bare_fraction_of_gemm']:.0f}%" if "bare_fraction_of_gemm" in row else ""
        cells = [str(row["round"]), row["backend"], row["precision"], *rates, f"{row['steady_vs_bare']:.2f}", share]
        lines.append("| " + " | ".join(cells) + " |")
    machine = data["machine"]
    ceilings = machine.get("gemm_gflops")
    gemm = (" 2048^3 matrix products at start / end, GFLOP/s (int8: GOP/s): "
            + " / ".join(", ".join(f"{k} {v}" for k, v in c.items()) for c in (ceilings[0], ceilings[-1]))
            + " (fp32: numpy; bf16, int8: OpenVINO); each bare rate is a share of its precision's."
            if ceilings else "")
    intro = (f"{data['images']} JPEGs ~500x375, {data['size']} px, batch {data['batch']}, on {machine['cpu']} "
             f"({', '.join(machine['cpu_flags'])}; {machine['cores']} cores), load average at start / end "
             f"{machine['load_average'][0][0]:.2f} / {machine['load_average'][-1][0]:.2f}.{gemm}\n\n")
    return intro + "\n".join(lines) + "\n"


def stress() -> str:
    """Outcomes of the stress harness (scripts/stress.py) per kind of job."""
    data = _load("stress")
    header = ["job", "ended as required", "failed"]
    lines = _header(header)
    kinds = sorted({key.rsplit(" ", 1)[0] for key in data["by_kind"]})
    for kind in kinds:
        ok, failed = (data["by_kind"].get(f"{kind} {outcome}", 0) for outcome in ("ok", "failed"))
        lines.append(f"| {kind} | {ok} | {failed} |")
    intro = (f"{data['runs']} jobs at a time for {data['minutes']} minutes on {data['cpu']} ({data['cores']} cores), "
             f"load average at the end {data['load_average_at_end'][0]:.1f}: {data['jobs']} jobs, {data['failed']} "
             f"failed, {data['left_processes']} processes left behind.\n\n")
    return intro + "\n".join(lines) + "\n"


def soak() -> str:
    """Many preemptions of one run; memory over many epochs (scripts/soak.py)."""
    data = _load("soak")
    lines = _header(["soak", "result", "checks"])
    for ranks in (1, 2):
        row = data.get(f"preempt_{ranks}rank")
        if row:
            job = "one process" if ranks == 1 else "2 ranks under msrun"
            weights = "bitwise equal" if row["bitwise_equal"] else "DIFFERENT"
            lines.append(f"| {row['stops']} SIGTERMs at random steps of a {row['steps']}-step run, {job}, resumed "
                         f"each time ({row['minutes']} min) | final weights {weights} "
                         f"to the uninterrupted run | {len(row['epoch_files'])} epoch files (keep 2), "
                         f"{len(row['temporary_files'])} temporary files, {row['processes_left']} processes left |")
    row = data.get("memory")
    if row:
        median = [epoch["trainer_median_mb"] for epoch in row["per_epoch"]]
        lines.append(f"| the README's main job for {row['epochs']} epochs ({row['minutes']} min) | training process "
                     f"(median RSS of each epoch) {median[1]:.0f} MB in epoch 2, {median[-1]:.0f} MB in epoch "
                     f"{len(median)}: {100 * row['growth_after_epoch_2']:+.1f}% (limit +2%); the epochs' peaks "
                     f"{100 * row['growth_after_epoch_2_of_epoch_peak']:+.1f}% | peak "
                     f"{row['peak_trainer_rss_mb']:.0f} MB, data workers "
                     f"{max(epoch['workers_rss_mb'] for epoch in row['per_epoch']):.0f} MB |")
    cpu = next((section["cpu"] for section in data.values() if "cpu" in section), "?")
    return f"On {cpu}.\n\n" + "\n".join(lines) + "\n"


def calibration() -> str:
    """Temperature scaling of the README's main job, judged on 9,000 other test images (benchmarks/calibration.py)."""
    data = _load("calibration")
    lines = _header(["judged on", "top-1 (%)", "NLL before -> after", "ECE (%) before -> after",
                     "ECE of a calibrated classifier (%) before / after"])
    for judged, row in ((f"{data['held_out']['images_judged']} other test images", data["held_out"]),
                        ("the same images (what validate.py --calibrate prints)", data["fitted_images"])):
        lines.append(f"| {judged} | {row['top1']:.1f} | {row['nll_before']:.4f} -> {row['nll_after']:.4f} | "
                     f"{row['ece_before']:.2f} -> {row['ece_after']:.2f} | {row['ece_floor_before']:.2f} / "
                     f"{row['ece_floor_after']:.2f} |")
    best = data["held_out"]["best_single_temperature"]
    return (f"Temperature {data['temperature']:.3f}, fitted on {data['fitted_on']}, on {data['cpu']}; top-1 is the "
            f"same before and after (the ranking of the classes is kept). The temperature of lowest ECE on the "
            f"held-out images, chosen with their labels, is {best['temperature']:.3f} (ECE {best['ece']:.2f}%).\n\n"
            + "\n".join(lines) + "\n")


def fine_tuning() -> str:
    """Top-1 per epoch on B, fine-tuned from A against from scratch (benchmarks/fine_tuning.py)."""
    data = _load("fine_tuning")
    epochs = range(1, data["epochs"] + 1)
    lines = _header(["start", *[f"epoch {e}" for e in epochs]])
    for name, key in (("A's checkpoint (fine-tuned)", "fine_tuned_top1_per_epoch"),
                      ("random weights (from scratch)", "scratch_top1_per_epoch")):
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in data[key]) + " |")
    return (f"{data['b_training_images']} training images of B ({data['per_class']} per class), on {data['cpu']}; A "
            f"was trained for {data['pretrain_epochs']} epochs (top-1 on A's validation images "
            f"{data['a_top1_per_epoch'][-1]:.1f}%).\n\n" + "\n".join(lines) + "\n")


TABLES = {"model_speed": model_speed, "data_pipeline": data_pipeline, "dataset_listing": dataset_listing,
          "eval_backends": eval_backends, "stress": stress, "soak": soak, "calibration": calibration,
          "fine_tuning": fine_tuning}
CHARTS = {"model_speed": model_speed_chart}


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
