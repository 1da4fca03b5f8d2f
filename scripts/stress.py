"""Stress harness: many training jobs at once on a small machine, stopped at random moments; every job must end
with a correct result or a clean, resumable stop, and leave no process behind.

    python scripts/stress.py --runs 6 --minutes 30 --log_dir /tmp/stress
    python scripts/stress.py --runs 3 --minutes 10 --log_dir /tmp/stress --jobs train,sigkill --upstream /tmp/mindcv

``--runs`` slots run side by side until ``--minutes`` have passed, each starting one job after another, drawn at
random (``--seed``) from ``--jobs``:

- ``train``: ``train.py`` (RandAugment and random erasing in 2 data worker processes, validation every epoch) to
  the end; its final weights must equal those of an uninterrupted reference run (``final weights sha256``).
- ``sigterm`` / ``sigkill``: the same run, stopped by SIGTERM or SIGKILL to its whole process group at a random
  moment (start-up, graph compilation and checkpoint writes included), then resumed from ``latest.ckpt`` (or
  started again if it stopped before its first checkpoint) until it ends; the weights must equal the reference.
- ``oomkill``: SIGKILL of the training process alone (what the OOM killer does), then resumed likewise.
- ``loader``: MindCV's call style (``create_dataset``, ``create_transforms`` with AutoAugment, ``create_loader``
  with ``python_multiprocessing``) iterated for two epochs; every batch must arrive with its shape.
- ``msrun``: the suite's data-parallel fault tests (a preempted job, a killed rank), under the same load.
- ``upstream``: upstream MindCV's own loader and transforms tests against this package (``--upstream DIR``, a
  checkout from ``fetch github:mindspore-lab/mindcv``; added to ``--jobs`` when given).

After every job its session must hold no process 5 s after its leader ended. Prints a table of outcomes and
writes ``report.json`` (and every job's log) into ``--log_dir``; exits 1 if any job failed.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name
from tests.helpers import left_behind, make_colour_folder, venv_env

TRAIN_OPTIONS = ["--model", "xception", "--dataset", "imagefolder", "--num_classes", "3", "--image_resize", "71",
                 "--batch_size", "4", "--num_parallel_workers", "2", "--python_multiprocessing", "True",
                 "--device_target", "CPU", "--mode", "1", "--epoch_size", "2", "--opt", "momentum", "--lr", "0.01",
                 "--scheduler", "constant", "--warmup_epochs", "0", "--crop_pct", "1.0", "--color_jitter", "0",
                 "--auto_augment", "randaug-m7-mstd0.5", "--re_prob", "0.25", "--val_while_train", "True",
                 "--log_interval", "2", "--keep_checkpoint_max", "2"]
LOADER_SCRIPT = """
import sys
from mindcv.data import create_dataset, create_loader, create_transforms
dataset = create_dataset("imagenet", root=sys.argv[1], split="train", shuffle=True, num_parallel_workers=2)
transform = create_transforms("imagenet", image_resize=71, is_training=True, auto_augment="autoaug", re_prob=0.25)
loader = create_loader(dataset, batch_size=4, drop_remainder=True, is_training=True, transform=transform,
                       num_parallel_workers=2, python_multiprocessing=True, num_classes=3)
steps = loader.get_dataset_size()
for epoch in range(2):
    shapes = [tuple(images.shape) for images, labels in loader.create_tuple_iterator(num_epochs=1)]
    assert shapes == [(4, 3, 71, 71)] * steps, (epoch, shapes)
print("loader ok", steps)
"""
MSRUN_TESTS = ("test_a_killed_rank_fails_the_job_fast_and_all_ranks_resume_exactly or "
               "test_a_preempted_job_saves_mid_epoch_on_every_rank_and_resumes_exactly")
EXPECTED_EXIT = {"sigterm": (0, 143), "sigkill": (0, -signal.SIGKILL), "oomkill": (0, -signal.SIGKILL)}
LEFT_PROCESS_SECONDS = 5.0


def _digest(run: Path) -> Optional[str]:
    logs = list(run.glob("train.log"))
    match = re.search(r"final weights sha256 (\w+)", logs[0].read_text(errors="replace")) if logs else None
    return match.group(1) if match else None


class Harness:
    def __init__(self, args):
        self.args = args
        self.log_dir = Path(args.log_dir)
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.results: List[Dict] = []
        self.counter = 0
        self.data = make_colour_folder(self.log_dir / "data", 16, 6)
        self.reference: Optional[str] = None

    def _next_id(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _run(self, command: List[str], log: Path, kill_after: Optional[float] = None, kill_signal=None,
             whole_group: bool = True) -> Dict:
        """Run ``command`` leading a session of its own; optionally signal it after ``kill_after`` seconds. Returns
        its exit code, whether it was signalled, and the processes of its session still running 5 s after it."""
        with open(log, "a") as out:
            proc = subprocess.Popen(command, cwd=ROOT, env=venv_env(), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            signalled = False
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                signalled = True
                try:
                    (os.killpg if whole_group else os.kill)(proc.pid, kill_signal)
                except ProcessLookupError:
                    pass
            try:
                code = proc.wait(timeout=self.args.job_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = "hung"
        return {"code": code, "signalled": signalled, "left": left_behind(proc.pid, LEFT_PROCESS_SECONDS)}

    def _train_command(self, run: Path, *extra) -> List[str]:
        return [sys.executable, str(ROOT / "train.py"), *TRAIN_OPTIONS, "--data_dir", str(self.data),
                "--ckpt_save_dir", str(run), *[str(e) for e in extra]]

    def make_reference(self) -> None:
        run = self.log_dir / "reference"
        shutil.rmtree(run, ignore_errors=True)
        outcome = self._run(self._train_command(run), self.log_dir / "reference.log")
        self.reference = _digest(run)
        if outcome["code"] != 0 or self.reference is None:
            raise SystemExit(f"the reference run failed ({outcome}); see {self.log_dir / 'reference.log'}")

    def job_train(self, job: int, kind: str, log: Path) -> Dict:
        """Run to the end, stopped once (sigterm/sigkill/oomkill) and resumed until done."""
        run = self.log_dir / "runs" / f"job{job}"
        details = []
        stop = {"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL, "oomkill": signal.SIGKILL}.get(kind)
        first = self._run(self._train_command(run), log, kill_after=self.rng.uniform(1, self.args.kill_window)
                          if stop else None, kill_signal=stop, whole_group=kind != "oomkill")
        details.append(first)
        allowed = EXPECTED_EXIT.get(kind, (0,)) if first["signalled"] else (0,)
        if first["code"] not in allowed or first["left"]:
            return {"outcome": "failed", "why": f"first run: {first}", "details": details}
        restarts = 0
        while _digest(run) is None:
            if restarts == 2:
                return {"outcome": "failed", "why": "not finished after 2 resumes", "details": details}
            restarts += 1
            latest = run / "latest.ckpt"
            if latest.exists():
                command = self._train_command(run, "--ckpt_path", latest, "--resume_opt", "True")
            else:  # stopped before its first checkpoint: start again in a new directory
                run = run.with_name(f"{run.name}-restart{restarts}")
                command = self._train_command(run)
            again = self._run(command, log)
            details.append(again)
            if again["code"] != 0 or again["left"]:
                return {"outcome": "failed", "why": f"resume {restarts}: {again}", "details": details}
        if _digest(run) != self.reference:
            return {"outcome": "failed", "why": f"final weights {_digest(run)} != reference {self.reference}",
                    "details": details}
        return {"outcome": "ok", "details": details, "resumed": restarts}

    def job_loader(self, job: int, log: Path) -> Dict:
        outcome = self._run([sys.executable, "-c", LOADER_SCRIPT, str(self.data)], log)
        return {"outcome": "ok" if outcome["code"] == 0 and not outcome["left"] else "failed", "details": [outcome]}

    def job_pytest(self, job: int, log: Path, command: List[str]) -> Dict:
        outcome = self._run(command, log)
        return {"outcome": "ok" if outcome["code"] == 0 and not outcome["left"] else "failed", "details": [outcome]}

    def run_job(self, kind: str) -> Dict:
        job = self._next_id()
        log = self.log_dir / "logs" / f"job{job}-{kind}.log"
        start = time.monotonic()
        if kind in ("train", "sigterm", "sigkill", "oomkill"):
            result = self.job_train(job, kind, log)
        elif kind == "loader":
            result = self.job_loader(job, log)
        elif kind == "msrun":
            result = self.job_pytest(job, log, [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                                                "tests/engine/test_distributed.py", "-k", MSRUN_TESTS])
        else:
            result = self.job_pytest(job, log, [sys.executable, str(ROOT / "scripts" / "check_upstream_compat.py"),
                                                self.args.upstream, "--tests", "loader,transforms", "--skip-scripts"])
        result.update(job=job, kind=kind, seconds=round(time.monotonic() - start, 1), log=str(log))
        if result["outcome"] != "ok":
            result["log_tail"] = log.read_text(errors="replace")[-3000:]
        elif kind in ("train", "sigterm", "sigkill", "oomkill"):
            shutil.rmtree(self.log_dir / "runs" / f"job{job}", ignore_errors=True)
        with self.lock:
            self.results.append(result)
            print(f"{time.strftime('%H:%M:%S')} job {job:4d} {kind:8s} {result['outcome']:7s} "
                  f"{result['seconds']:7.1f} s  {result.get('why', '')}", flush=True)
        return result

    def slot(self, deadline: float, kinds: List[str]) -> None:
        while time.monotonic() < deadline:
            with self.lock:
                kind = self.rng.choice(kinds)
            self.run_job(kind)


def _sysv_objects() -> int:
    count = 0
    for table in ("/proc/sysvipc/shm", "/proc/sysvipc/msg"):
        try:
            count += len(Path(table).read_text().splitlines()) - 1
        except OSError:
            pass
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="jobs running side by side")
    parser.add_argument("--minutes", type=float, default=10.0, help="start new jobs until this much time has passed")
    parser.add_argument("--log_dir", required=True, help="data, runs, logs and report.json go here")
    parser.add_argument("--jobs", default="train,sigterm,sigkill,oomkill,loader,msrun",
                        help="comma-separated kinds of job to draw from")
    parser.add_argument("--upstream", help="a checkout of upstream MindCV: adds its loader/transforms tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill_window", type=float, default=90.0, help="stop signals come 1..this many seconds in")
    parser.add_argument("--job_timeout", type=float, default=1800.0, help="a job running longer has hung")
    args = parser.parse_args(argv)
    kinds = [k for k in args.jobs.split(",") if k] + (["upstream"] if args.upstream else [])
    unknown = set(kinds) - {"train", "sigterm", "sigkill", "oomkill", "loader", "msrun", "upstream"}
    if unknown:
        parser.error(f"unknown job kinds {sorted(unknown)}")
    Path(args.log_dir, "logs").mkdir(parents=True, exist_ok=True)
    harness = Harness(args)
    ipc_before = _sysv_objects()
    started = time.monotonic()
    harness.make_reference()
    print(f"reference run: {time.monotonic() - started:.0f} s, weights {harness.reference[:16]}", flush=True)
    deadline = time.monotonic() + args.minutes * 60
    slots = [threading.Thread(target=harness.slot, args=(deadline, kinds)) for _ in range(args.runs)]
    for thread in slots:
        thread.start()
    for thread in slots:
        thread.join()
    counts = Counter((r["kind"], r["outcome"]) for r in harness.results)
    report = {"runs": args.runs, "minutes": round((time.monotonic() - started) / 60, 1), "seed": args.seed,
              "cpu": cpu_name(), "cores": os.cpu_count(), "load_average_at_end": list(os.getloadavg()),
              "jobs": len(harness.results), "failed": sum(r["outcome"] != "ok" for r in harness.results),
              "left_processes": sum(d["left"] for r in harness.results for d in r["details"]),
              "sysv_ipc_objects_added": _sysv_objects() - ipc_before,
              "by_kind": {f"{kind} {outcome}": n for (kind, outcome), n in sorted(counts.items())},
              "results": harness.results}
    (Path(args.log_dir) / "report.json").write_text(json.dumps(report, indent=1))
    print("\n| job | outcome | count |\n| --- | --- | --- |")
    for (kind, outcome), n in sorted(counts.items()):
        print(f"| {kind} | {outcome} | {n} |")
    print(f"\n{report['jobs']} jobs in {report['minutes']} min on {args.runs} slots: {report['failed']} failed, "
          f"{report['left_processes']} processes left behind, {report['sysv_ipc_objects_added']} SysV IPC objects "
          f"added; report: {Path(args.log_dir) / 'report.json'}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
