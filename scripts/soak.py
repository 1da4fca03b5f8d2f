"""Soak tests of long runs: many preemptions of one run, and memory over many epochs.

    python scripts/soak.py preempt --stops 10 --log_dir /tmp/soak --json benchmarks/results/soak.json
    python scripts/soak.py preempt --stops 10 --ranks 2 --log_dir /tmp/soak --json benchmarks/results/soak.json
    python scripts/soak.py memory --epochs 20 --log_dir /tmp/soak --json benchmarks/results/soak.json

``preempt``: ``train.py`` (RandAugment and erasing in data worker processes, dropout 0.5, validation every
epoch; with ``--ranks 2`` a data-parallel job under ``msrun``) is stopped ``--stops`` times by SIGTERM to its
process group (msrun's for the job) at random steps, and resumed from ``latest.ckpt`` each time. It must end with
bitwise the weights of an uninterrupted run, exactly ``keep_checkpoint_max`` epoch checkpoints and no temporary
file in its directory, and no process of any launch running 5 s after it ended.

``memory``: the README's main job for ``--epochs`` epochs; the resident memory (RSS) of the training process and
of its data workers is sampled every half second. Per epoch it reports the samples' median (the steady level),
minimum and maximum, and the value when the epoch's metrics were written. Validation, checkpoint writes and the
data pipeline's batches in flight move the RSS by tens of MB for seconds at a time, so one sample per epoch is
mostly noise; the median is what a leak raises. Passes when the median grows by at most 2% from the second epoch
to the last; the growth of the epochs' peaks and of the end-of-epoch values is reported beside it.

Each mode adds its section to ``--json`` (other sections are kept) and exits 1 when its check fails.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name
from tests.helpers import left_behind, make_colour_folder, process_running, venv_env

PREEMPT_OPTIONS = ["--model", "xception", "--dataset", "imagefolder", "--num_classes", "3", "--image_resize", "71",
                   "--batch_size", "4", "--num_parallel_workers", "2", "--python_multiprocessing", "True",
                   "--device_target", "CPU", "--mode", "1", "--opt", "momentum", "--lr", "0.01", "--scheduler",
                   "cosine_decay", "--warmup_epochs", "1", "--crop_pct", "1.0", "--color_jitter", "0",
                   "--auto_augment", "randaug-m7-mstd0.5", "--re_prob", "0.25", "--drop_rate", "0.5",
                   "--val_while_train", "True", "--log_interval", "1", "--keep_checkpoint_max", "2"]
STEP_LINE = re.compile(r"INFO epoch (\d+) step (\d+)/(\d+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digests(run: Path) -> List[str]:
    found = []
    for name in ("train.log", "train_rank1.log"):
        if (run / name).exists():
            found += re.findall(r"final weights sha256 (\w+)", (run / name).read_text(errors="replace"))[-1:]
    return found


def _steps_logged(run: Path, since: int = 0) -> int:
    """The furthest global step the run's log reports after its first ``since`` characters (0 if none)."""
    log = run / "train.log"
    best = 0
    for epoch, step, total in STEP_LINE.findall(log.read_text(errors="replace")[since:] if log.exists() else ""):
        best = max(best, (int(epoch) - 1) * int(total) + int(step))
    return best


def _log_length(run: Path) -> int:
    log = run / "train.log"
    return len(log.read_text(errors="replace")) if log.exists() else 0


def _saved_position(checkpoint: Path, steps_per_epoch: int) -> int:
    """The global step a resumable checkpoint was saved after (0 if there is none)."""
    from mindcv.utils.checkpoint import checkpoint_metadata, read_checkpoint

    if not checkpoint.exists():
        return 0
    meta = checkpoint_metadata(read_checkpoint(checkpoint))
    return int(meta["epoch"]) * steps_per_epoch + int(meta.get("step_in_epoch", 0))


class Launcher:
    def __init__(self, data: Path, log_dir: Path, ranks: int, epochs: int):
        self.data, self.log_dir, self.ranks, self.epochs = data, log_dir, ranks, epochs
        self.launches = 0

    def start(self, run: Path, *extra) -> subprocess.Popen:
        self.launches += 1
        args = [*PREEMPT_OPTIONS, "--epoch_size", str(self.epochs), "--data_dir", str(self.data), "--ckpt_save_dir",
                str(run), *[str(e) for e in extra]]
        if self.ranks > 1:
            command = ["msrun", "--worker_num", str(self.ranks), "--local_worker_num", str(self.ranks),
                       "--master_port", str(_free_port()), "--join", "True", "--log_dir",
                       str(self.log_dir / f"msrun{self.launches}"), str(ROOT / "train.py"), *args, "--distribute",
                       "True"]
        else:
            command = [sys.executable, str(ROOT / "train.py"), *args]
        out = open(self.log_dir / f"launch{self.launches}.log", "w")
        return subprocess.Popen(command, cwd=ROOT, env=venv_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def finish(self, proc: subprocess.Popen, run: Path, timeout: float = 1800) -> Dict:
        """Wait for a launch: for train.py itself, for msrun and then its ranks (which run in sessions of their own
        and stop after msrun, saving first); every process of the job must be gone 5 s after that."""
        code = proc.wait(timeout=timeout)
        if self.ranks == 1:
            return {"code": code, "left": left_behind(proc.pid)}
        ranks = {int(pid) for name in ("train.log", "train_rank1.log") if (run / name).exists()
                 for pid in re.findall(r"rank \d+, pid (\d+)", (run / name).read_text(errors="replace"))}
        deadline = time.monotonic() + timeout
        while any(process_running(pid) for pid in ranks) and time.monotonic() < deadline:
            time.sleep(0.2)
        return {"code": code, "left": left_behind(proc.pid) + sum(left_behind(pid) for pid in ranks)}


def preempt(args) -> Dict:
    log_dir = Path(args.log_dir) / f"preempt_{args.ranks}rank"
    log_dir.mkdir(parents=True, exist_ok=True)
    data = log_dir / "data"
    if not data.exists():
        make_colour_folder(data, 16, 6)
    launcher = Launcher(data, log_dir, args.ranks, args.epochs)
    started = time.monotonic()
    reference = log_dir / "uninterrupted"
    outcome = launcher.finish(launcher.start(reference), reference)
    expected = _digests(reference)
    if outcome["code"] != 0 or not expected or len(set(expected)) != 1:
        raise SystemExit(f"the uninterrupted run failed: {outcome}, digests {expected}")
    steps_per_epoch = _steps_logged(reference) // args.epochs
    total = steps_per_epoch * args.epochs
    rng = random.Random(args.seed)
    targets = sorted(rng.sample(range(1, total - args.stops), args.stops))
    run, stops, failures = log_dir / "preempted", [], []
    for target in targets:
        # each launch trains at least one step before its stop (a stop during start-up only repeats the last)
        target = max(target, _saved_position(run / "latest.ckpt", steps_per_epoch) + 1)
        resume = ["--ckpt_path", run / "latest.ckpt", "--resume_opt", "True"] if (run / "latest.ckpt").exists() else []
        since = _log_length(run)
        proc = launcher.start(run, *resume)
        while proc.poll() is None and _steps_logged(run, since) < target:
            time.sleep(0.05)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:  # it ended on its own: the check below reports how
            pass
        result = launcher.finish(proc, run)
        saved_at = _saved_position(run / "latest.ckpt", steps_per_epoch)
        stops.append({"target_step": target, "saved_after_step": saved_at, **result})
        # msrun dies of the signal at once; its ranks then see it gone, save and exit 143
        if result["code"] != (-signal.SIGTERM if args.ranks > 1 else 143) or result["left"] or saved_at < target:
            failures.append(f"stop at step {target}: {result}, checkpoint after step {saved_at}")
    final = launcher.finish(launcher.start(run, "--ckpt_path", run / "latest.ckpt", "--resume_opt", "True"), run)
    digests = _digests(run)
    epoch_files = sorted(p.name for p in run.glob("xception-*.ckpt"))
    temporary = sorted(p.name for p in run.iterdir() if ".tmp" in p.name)
    if final["code"] != 0 or final["left"]:
        failures.append(f"final resume: {final}")
    if not digests or set(digests) != set(expected):
        failures.append(f"final weights {digests} != uninterrupted {expected}")
    if len(epoch_files) != 2 or temporary:
        failures.append(f"run directory holds epoch files {epoch_files} and temporary files {temporary}")
    return {"ranks": args.ranks, "stops": len(stops), "launches": launcher.launches, "steps": total,
            "saved_after_steps": [s["saved_after_step"] for s in stops],
            "bitwise_equal": bool(digests) and set(digests) == set(expected), "epoch_files": epoch_files,
            "temporary_files": temporary, "processes_left": sum(s["left"] for s in stops) + final["left"],
            "minutes": round((time.monotonic() - started) / 60, 1), "failures": failures}


def _rss_mb(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> List[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def memory(args) -> Dict:
    log_dir = Path(args.log_dir) / "memory"
    log_dir.mkdir(parents=True, exist_ok=True)
    run = log_dir / "run"
    config = ROOT / "configs" / "xception" / "xception_cpu_fashion_mnist.yaml"
    command = [sys.executable, str(ROOT / "train.py"), "-c", str(config), "--epoch_size", str(args.epochs),
               "--decay_epochs", str(args.epochs), "--ckpt_save_dir", str(run)]
    with open(log_dir / "train.out", "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=venv_env(), stdout=out, stderr=subprocess.STDOUT)
    latest = {"trainer": 0.0, "workers": 0.0}
    samples: List[Dict] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            trainer = _rss_mb(proc.pid)
            if trainer is not None:
                latest.update(trainer=trainer, workers=sum(_rss_mb(k) or 0.0 for k in _children(proc.pid)))
                samples.append(dict(latest))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    per_epoch: List[Dict] = []
    metrics = run / "metrics.jsonl"
    started = time.monotonic()
    epoch_start = 0  # index of the first sample of the epoch running now
    while proc.poll() is None:
        rows = metrics.read_text().splitlines() if metrics.exists() else []
        while len(per_epoch) < len(rows):
            during = sorted(s["trainer"] for s in samples[epoch_start:]) or [latest["trainer"]]
            epoch_start = len(samples)
            per_epoch.append({"epoch": len(per_epoch) + 1, "trainer_rss_mb": round(latest["trainer"], 1),
                              "trainer_median_mb": round(during[len(during) // 2], 1),
                              "trainer_min_mb": round(during[0], 1), "trainer_max_mb": round(during[-1], 1),
                              "workers_rss_mb": round(latest["workers"], 1)})
        time.sleep(0.5)
    done.set()
    sampler.join()

    def growth(key: str) -> Optional[float]:
        values = [row[key] for row in per_epoch]
        return (values[-1] - values[1]) / values[1] if len(values) >= 3 else None

    failures = []
    if proc.returncode != 0 or len(per_epoch) != args.epochs:
        failures.append(f"the run exited {proc.returncode} after {len(per_epoch)} epochs")
    steady = growth("trainer_median_mb")
    if steady is None or steady > 0.02:
        failures.append(f"the training process's median RSS grew {steady} after epoch 2 (limit 0.02)")
    return {"epochs": args.epochs, "per_epoch": per_epoch, "growth_after_epoch_2": steady,
            "growth_after_epoch_2_at_epoch_end": growth("trainer_rss_mb"),
            "growth_after_epoch_2_of_epoch_peak": growth("trainer_max_mb"),
            "peak_trainer_rss_mb": round(max((s["trainer"] for s in samples), default=0.0), 1),
            "minutes": round((time.monotonic() - started) / 60, 1), "failures": failures}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["preempt", "memory"])
    parser.add_argument("--log_dir", required=True)
    parser.add_argument("--json", help="add this mode's results to this file (other modes' sections are kept)")
    parser.add_argument("--stops", type=int, default=10, help="preempt: SIGTERMs before the run may finish")
    parser.add_argument("--ranks", type=int, default=1, choices=[1, 2], help="preempt: 2 runs under msrun")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (preempt: 4, memory: 20)")
    parser.add_argument("--seed", type=int, default=0, help="preempt: which steps are stopped at")
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (4 if args.mode == "preempt" else 20)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = preempt(args) if args.mode == "preempt" else memory(args)
    result.update(started=started, cpu=cpu_name(), load_average_at_end=list(os.getloadavg()))
    key = f"preempt_{args.ranks}rank" if args.mode == "preempt" else "memory"
    print(json.dumps({key: result}, indent=1))
    if args.json:
        path = Path(args.json)
        sections = json.loads(path.read_text()) if path.exists() else {}
        sections[key] = result
        path.write_text(json.dumps(sections, indent=1) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
