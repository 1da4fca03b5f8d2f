"""Helpers shared by the tests: weights with realistic activations, tiny inputs and image folders, and the
command lines of the tiny end-to-end runs."""
import argparse
import os
import signal
import subprocess
import struct
import sys
import time
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore.train.summary_pb2 import Event
from PIL import Image

from mindcv.models.xception import Xception

ROOT = Path(__file__).resolve().parents[1]


def images(batch: int = 2, size: int = 71, channels: int = 3, seed: int = 0) -> ms.Tensor:
    rng = np.random.default_rng(seed)
    return ms.Tensor(rng.normal(0.0, 1.0, (batch, channels, size, size)).astype(np.float32))


def perturb_parameters(model: ms.nn.Cell, seed: int = 0) -> None:
    """Give every parameter distinct non-default values (BN statistics included)."""
    rng = np.random.default_rng(seed)
    for param in model.get_parameters():
        shape = param.shape
        if param.name.endswith("moving_variance"):
            value = param.asnumpy() * rng.uniform(0.8, 1.25, shape)
        elif param.name.endswith("moving_mean"):
            value = param.asnumpy() + rng.normal(0.0, 0.05, shape) * np.sqrt(np.abs(param.asnumpy()) + 1e-3)
        elif param.name.endswith(("beta", "bias")):
            value = rng.normal(0.0, 0.2, shape)
        elif param.name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = param.asnumpy() * rng.uniform(0.9, 1.1, shape)
        param.set_data(ms.Tensor(value.astype(np.float32)))


def calibrated_xception(seed: int = 0, size: int = 96, **kwargs) -> Xception:
    """An eval-mode Xception whose BN statistics come from real activations, then perturbed.

    With default BN statistics the activations of a random network shrink to ~0 with depth, and
    numerical comparisons cannot tell semantics apart; calibrated statistics keep them O(1).
    """
    model = Xception(bn_momentum=0.0, **kwargs)
    model.set_train(True)
    model(images(batch=4, size=size, channels=model.in_channels, seed=seed + 1))
    perturb_parameters(model, seed)
    model.set_train(False)
    return model


def state_of(model: ms.nn.Cell) -> dict:
    return {p.name: p.asnumpy().copy() for p in model.get_parameters()}


def write_image(path: Path, size=(40, 30), value=None, mode: str = "RGB", seed: int = 0, **save_args) -> Path:
    """A random (or constant ``value``) image of ``size`` (width, height) saved at ``path``."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    array = np.full(shape, value, np.uint8) if value is not None else rng.integers(0, 255, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **save_args)
    return path


COLOURS = {"blue": (40, 60, 200), "green": (40, 190, 60), "red": (210, 40, 40)}


def make_colour_folder(root: Path, train_per_class: int, val_per_class: int) -> Path:
    """An easily learned image folder: noisy 32x32 red, green and blue squares in train/ and val/."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for name, rgb in COLOURS.items():
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                noisy = np.clip(np.array(rgb) + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(noisy).save(root / split / name / f"{i}.png")
    return root


# train.py options for the tiny end-to-end runs of the tests.
TRAIN_ARGS = ["--model", "xception", "--image_resize", "71", "--batch_size", "8", "--num_parallel_workers", "2",
              "--device_target", "CPU", "--opt", "adamw", "--lr", "0.001", "--weight_decay", "0.01",
              "--scheduler", "constant", "--warmup_epochs", "0", "--drop_rate", "0.0", "--crop_pct", "1.0",
              "--log_interval", "2", "--color_jitter", "0"]


def train_args(data_dir, run_dir, *extra):
    """train.py on a colour folder in PyNative mode: SGD-momentum, batch 8, no validation unless asked."""
    return TRAIN_ARGS + ["--dataset", "imagefolder", "--data_dir", str(data_dir), "--num_classes", "3", "--mode",
                         "1", "--opt", "momentum", "--lr", "0.01", "--val_while_train", "False", "--ckpt_save_dir",
                         str(run_dir), *[str(e) for e in extra]]


def venv_env():
    """The environment with this interpreter's bin folder first on PATH (msrun starts workers with `python`)."""
    return dict(os.environ, GLOG_v="3", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def launch(args, script: str = "train.py", own_group: bool = False):
    """Start ``python <script> args`` in its own process (``own_group``: leading a new process group, as a
    scheduler's job step)."""
    return subprocess.Popen([sys.executable, str(ROOT / script), *[str(a) for a in args]], cwd=ROOT,
                            env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=own_group)


def fixture_state_dict(path: Path, seed: int = 0) -> dict:
    """Random float32 tensors under the names and shapes listed in a ``name (shape)`` fixture file.

    BN ``running_var`` entries are positive; ``num_batches_tracked`` counters are int64 scalars.
    """
    rng = np.random.default_rng(seed)
    state = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            continue
        name, shape = line.split(" ", 1)
        shape = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
        if name.endswith("num_batches_tracked"):
            state[name] = np.array(1000, dtype=np.int64)
        elif name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        else:
            state[name] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    return state


def process_running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def session_processes(session: int) -> list:
    """The running processes of a session (a job started with ``launch(..., own_group=True)``: its leader's pid)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == session and process_running(int(entry)):
                    members.append(int(entry))
            except OSError:  # gone meanwhile
                pass
    return members


def sweepers_of(trainer: int) -> list:
    """The running System V sweepers (``mindcv/run/ipc_sweeper.py``) of the job of training process ``trainer``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                words = cmdline.read().split(b"\0")
        except (FileNotFoundError, NotADirectoryError, PermissionError, ProcessLookupError):
            continue
        if any(w.endswith(b"ipc_sweeper.py") for w in words) and str(trainer).encode() in words \
                and process_running(int(entry)):
            found.append(int(entry))
    return found


def left_behind(leader: int, seconds: float = 5.0) -> int:
    """How many processes of the job ``leader`` led (its session, and its System V sweeper, which runs in a session
    of its own) still run ``seconds`` after it ended; those are killed."""
    deadline = time.monotonic() + seconds
    left = session_processes(leader) + sweepers_of(leader)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = session_processes(leader) + sweepers_of(leader)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return len(left)


class BusyCores:
    """``count`` processes spinning on the CPU for the duration of a ``with`` block (an oversubscribed machine)."""

    def __init__(self, count: int = 2):
        self.count = count
        self.procs = []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def with_dev_shm(size: str, command, full: bool = False, **run_args) -> subprocess.CompletedProcess:
    """Run ``command`` with a ``/dev/shm`` of ``size`` (a tmpfs in a mount namespace of its own, as a container's
    ``--shm-size`` gives), filled up first when ``full``."""
    fill = "&& cat /dev/zero > /dev/shm/fill 2>/dev/null; " if full else "&& "
    script = f'mount -t tmpfs -o size={size} tmpfs /dev/shm {fill}exec "$@"'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                           *[str(c) for c in command]], cwd=ROOT, env=venv_env(), capture_output=True, text=True,
                          **run_args)


def wait_for(predicate, timeout: float = 300.0, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def read_events(path):
    """The events of a summary file: records of a little-endian uint64 length, its crc, the data, its crc."""
    events, data = [], open(path, "rb").read()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        event = Event()
        event.ParseFromString(data[offset + 12: offset + 12 + length])
        events.append(event)
        offset += 12 + length + 4
    return events


OPTION_READERS = {"mindcv.config", "mindcv.run.builder"}  # the options module and the one module that uses them


def record_option_readers(monkeypatch) -> set:
    """From now on the options train.py and validate.py resolve note the modules that read them; returns that set."""
    import mindcv.cli

    readers = set()

    class Recording(argparse.Namespace):
        def __getattribute__(self, name):
            if not name.startswith("__"):
                readers.add(sys._getframe(1).f_globals.get("__name__", ""))
            return super().__getattribute__(name)

    resolve = mindcv.cli.resolve_options
    monkeypatch.setattr(mindcv.cli, "resolve_options",
                        lambda *args: None if (c := resolve(*args)) is None else Recording(**vars(c)))
    return readers
