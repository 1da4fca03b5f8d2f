"""Run upstream MindCV's own unit tests and scripts, unchanged, against this package, and compare training runs.

    python scripts/check_upstream_compat.py UPSTREAM_DIR [--upstream-python PYTHON] [--workdir DIR]
                                            [--tests optim,loss,...] [--skip-tests] [--skip-scripts]

UPSTREAM_DIR is a checkout of github.com/mindspore-lab/mindcv. Nothing of it is copied into this project: the
script copies upstream's ``train.py``, ``config.py``, ``validate.py``, ``infer.py`` and
``examples/finetune/finetune.py`` into a scratch folder (away from upstream's own ``mindcv`` package) and runs
them, and upstream's ``tests/modules/test_*.py`` (not ``parallel/`` and ``non_cpu/``), with this interpreter,
where ``import mindcv`` is this package. What those tests download (the Canidae image folder, CIFAR-10) and
``infer.py``'s pretrained checkpoint are generated locally into the download root first, so nothing is fetched.

It prints a table: per test file the passed / failed / error counts; per script whether it finished; and for
training, the losses and weights of upstream's ``train.py`` on this package against this project's ``train.py``
on the same recipe (Xception, SGD momentum 0.9, warmup cosine, CE with smoothing 0.1, loss scale 1024, no
augmentation or dropout, shuffle off) from the same initial checkpoint. With ``--upstream-python`` (an
interpreter with MindSpore 2.7 in which UPSTREAM_DIR's own package imports) it also runs upstream's ``train.py``
with upstream's package, and reports how far every tensor's update of ours is from it (max |ours - theirs| over
max |theirs|; MindSpore's operators on both sides: MINDCV_CPU_KERNELS=0). MindCV's Xception always applies
dropout 0.5; for that run only it is switched off by a ``sitecustomize`` that makes ``nn.Dropout`` the identity.

Not part of the test suite (it needs an upstream checkout and takes ~30-60 minutes on 2 cores with all tests).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = ("optim", "loss", "loader", "transforms", "dataset", "models", "scheduler", "feature_extraction", "utils")
SCRIPTS = ("train.py", "config.py", "validate.py", "infer.py", "examples/finetune/finetune.py",
           "examples/data/imagenet1000_clsidx_to_labels.txt")
RECIPE = """mode: 1
distribute: False
device_target: CPU
num_parallel_workers: 1
val_while_train: True
dataset: imagenet
data_dir: {data}
shuffle: False
batch_size: 16
drop_remainder: True
image_resize: 96
scale: [1.0, 1.0]
ratio: [1.0, 1.0]
hflip: 0.0
interpolation: bilinear
auto_augment: null
re_prob: 0.0
crop_pct: 1.0
model: xception
num_classes: 4
pretrained: False
ckpt_path: {init}
keep_checkpoint_max: 10
epoch_size: 1
dataset_sink_mode: False
amp_level: O0
loss: CE
label_smoothing: 0.1
scheduler: warmup_cosine_decay
lr: 0.045
min_lr: 0.0
decay_epochs: 1
warmup_epochs: 1
opt: sgd
momentum: 0.9
weight_decay: 0.00001
loss_scale: 1024
use_nesterov: False
log_interval: 1
"""


def _write_jpegs(folder: Path, classes, per_class: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            base = rng.integers(0, 256, (1, 1, 3))
            pixels = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{index:03d}.jpg", quality=95)


def _write_cifar10(folder: Path, records: int = 10000) -> None:
    """CIFAR-10's binary layout (a label byte, then 32x32x3 planes per record; MindSpore reads 10,000 per file),
    random content."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (records, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (records, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")


def prepare(work: Path, upstream: Path) -> dict:
    """The download root (Canidae, CIFAR-10, a pretrained checkpoint), a tiny recipe folder, copied scripts."""
    cache = work / "cache"
    canidae = cache / "datasets" / "Canidae" / "data" / "Canidae"
    _write_jpegs(canidae / "train", ("dogs", "wolves"), 80, 64, 1)
    _write_jpegs(canidae / "val", ("dogs", "wolves"), 20, 64, 2)
    _write_cifar10(cache / "datasets" / "cifar10" / "cifar-10-batches-bin")
    data = work / "data"
    _write_jpegs(data / "train", [f"class{i}" for i in range(4)], 16, 96, 3)
    _write_jpegs(data / "val", [f"class{i}" for i in range(4)], 4, 96, 4)
    scripts = work / "scripts"
    for name in SCRIPTS:
        target = scripts / (Path(name).name if name.endswith(".py") else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(upstream / name, target)
    env = dict(os.environ, MINDCV_CACHE_DIR=str(cache), MINDCV_CPU_KERNELS="0", PYTHONPATH=str(scripts))
    init = work / "xception-0_0.ckpt"  # upstream's train.py reads the start epoch from such a name
    code = ("import mindspore as ms, numpy as np\n"
            "from mindcv.models import create_model\n"
            "for classes, path in ((4, {init!r}), (1000, {pretrained!r})):\n"
            "    model = create_model('xception', num_classes=classes, use_cpu_kernels=False)\n"
            "    rng = np.random.default_rng(classes)\n"
            "    for p in model.get_parameters():\n"
            "        if 'gamma' in p.name or 'variance' in p.name:\n"
            "            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))\n"
            "    ms.save_checkpoint(model, path)\n").format(
                init=str(init), pretrained=str(cache / "models" / "xception-174_5004_v2.ckpt"))
    (cache / "models").mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=data, init=init))
    return dict(cache=cache, data=data, scripts=scripts, env=env, init=init, recipe=recipe)


def run_unit_tests(upstream: Path, work: Path, env: dict, names) -> list:
    rows = []
    for name in names:
        report = work / f"junit_{name}.xml"
        test = upstream / "tests" / "modules" / f"test_{name}.py"
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                               str(test)], cwd=work, env=env, capture_output=True, text=True)
        if not report.exists():
            rows.append((f"tests/modules/test_{name}.py", "not run", done.stdout[-300:]))
            continue
        suite = ElementTree.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        total, failures, errors = (int(suite.get(key, 0)) for key in ("tests", "failures", "errors"))
        skipped = int(suite.get("skipped", 0))
        failed = sorted({case.get("name").split("[")[0] for case in suite.iter("testcase")
                         if case.find("failure") is not None or case.find("error") is not None})
        rows.append((f"tests/modules/test_{name}.py", f"{total - failures - errors - skipped}/{total} passed",
                     f"failed: {', '.join(failed)}" if failed else ""))
    return rows


def _run(command, cwd, env, log: Path) -> int:
    with open(log, "w") as out:
        return subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def _losses(log: Path, pattern: str) -> list:
    return [float(value) for value in re.findall(pattern, log.read_text())]


def _updates(init: Path, *checkpoints: Path) -> str:
    """Per-tensor relative distance of the first checkpoint's update from the second's, as text."""
    code = ("import sys, numpy as np, mindspore as ms\n"
            "load = lambda p: {k: v.asnumpy() for k, v in ms.load_checkpoint(p).items() if hasattr(v, 'asnumpy')}\n"
            "init, a, b = (load(p) for p in sys.argv[1:4])\n"
            "rows = []\n"
            "for k, v in init.items():\n"
            "    ub = b[k] - v; den = np.abs(ub).max()\n"
            "    if den > 0: rows.append((np.abs((a[k] - v) - ub).max() / den, k))\n"
            "rows.sort(); print(f'{len(rows)} tensors: max {rows[-1][0]:.2e} ({rows[-1][1]}), median '\n"
            "                   f'{rows[len(rows) // 2][0]:.2e}')\n")
    done = subprocess.run([sys.executable, "-c", code, str(init), *map(str, checkpoints)], capture_output=True,
                          text=True)
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr.strip()[-300:]


def run_scripts(prepared: dict, work: Path, upstream: Path, upstream_python: str) -> list:
    env, scripts, recipe = prepared["env"], prepared["scripts"], prepared["recipe"]
    rows = []
    theirs_dir, ours_dir = work / "run_upstream_train_py", work / "run_our_train_py"
    code = _run([sys.executable, str(scripts / "train.py"), "-c", str(recipe), "--drop_rate", "0",
                 "--ckpt_save_dir", str(theirs_dir)], scripts, env, work / "upstream_train_py.log")
    rows.append(("upstream train.py", "finished" if code == 0 else f"exit {code}", "log: upstream_train_py.log"))
    code = _run([sys.executable, str(ROOT / "train.py"), "-c", str(recipe), "--drop_rate", "0", "--ckpt_save_dir",
                 str(ours_dir)], ROOT, env, work / "our_train_py.log")
    rows.append(("this project's train.py", "finished" if code == 0 else f"exit {code}", "log: our_train_py.log"))
    theirs = _losses(work / "upstream_train_py.log", r"batch: \[\d+/\d+\], loss: ([0-9.]+)")
    ours = _losses(work / "our_train_py.log", r"step \d+/\d+ loss ([0-9.]+)")
    same = len(theirs) == len(ours) > 0 and all(abs(a - b) < 1e-4 for a, b in zip(theirs, ours))
    rows.append(("losses, upstream train.py vs ours", "equal" if same else "differ",
                 f"{[round(v, 4) for v in theirs]} vs {ours}"))
    epoch_file = "xception-1_4.ckpt"
    rows.append(("weights, upstream train.py vs ours", "", _updates(prepared["init"], ours_dir / epoch_file,
                                                                      theirs_dir / epoch_file)))
    code = _run([sys.executable, str(scripts / "validate.py"), "-c", str(recipe), "--ckpt_path",
                 str(ours_dir / epoch_file), "--val_split", "val"], scripts, env, work / "upstream_validate_py.log")
    rows.append(("upstream validate.py", "finished" if code == 0 else f"exit {code}", "on our train.py's checkpoint"))
    image = next((prepared["data"] / "val" / "class0").glob("*.jpg"))
    code = _run([sys.executable, str(scripts / "infer.py"), "--image_path", str(image), "--model", "xception"],
                scripts, env, work / "upstream_infer_py.log")
    rows.append(("upstream infer.py", "finished" if code == 0 else f"exit {code}", "pretrained=True from the cache"))
    code = _run([sys.executable, str(scripts / "finetune.py"), "-c", str(recipe), "--drop_rate", "0",
                 "--ckpt_save_dir", str(work / "run_finetune")], scripts, env, work / "upstream_finetune_py.log")
    rows.append(("upstream examples/finetune/finetune.py", "finished" if code == 0 else f"exit {code}", ""))
    if upstream_python:
        site = work / "no_dropout"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text("import mindspore.nn as nn\nnn.Dropout.construct = lambda self, x: x\n")
        reference_dir = work / "run_upstream_package"
        code = _run([upstream_python, "train.py", "-c", str(recipe), "--ckpt_save_dir", str(reference_dir)], upstream,
                    dict(env, PYTHONPATH=str(site)), work / "upstream_package_train_py.log")
        rows.append(("upstream train.py with upstream's package", "finished" if code == 0 else f"exit {code}",
                     "log: upstream_package_train_py.log"))
        rows.append(("weights, ours vs upstream's package", "",
                     _updates(prepared["init"], ours_dir / epoch_file, reference_dir / epoch_file)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream", type=Path, help="a checkout of github.com/mindspore-lab/mindcv")
    parser.add_argument("--upstream-python", default="", help="interpreter for upstream's own package (reference)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--tests", default=",".join(TEST_FILES), help="comma-separated test files to run")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-scripts", action="store_true")
    args = parser.parse_args(argv)
    upstream = args.upstream.resolve()
    if not (upstream / "tests" / "modules").is_dir() or not (upstream / "train.py").is_file():
        parser.error(f"{upstream} is not a MindCV checkout (no train.py and tests/modules).")
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="mindcv_compat_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    prepared = prepare(work, upstream)
    rows = []
    if not args.skip_tests:
        rows += run_unit_tests(upstream, work, prepared["env"], [n for n in args.tests.split(",") if n])
    if not args.skip_scripts:
        rows += run_scripts(prepared, work, upstream, args.upstream_python)
    print("| what | result | note |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nlogs and runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
