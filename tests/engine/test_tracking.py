"""Experiment tracking: TensorBoard events read back with TensorBoard's own reader, MLflow runs on a real
``mlflow server`` on 127.0.0.1, and trackers that fail (disk full, server gone) costing one warning, not the run."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

import train
from mindcv.config import ConfigError, parse_config
from mindcv.engine.tracking import MLFLOW_RUN_FILE, TENSORBOARD_DIR, TensorBoardEvents, Trackers

from ..helpers import ROOT, train_args, venv_env, wait_for

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(log_dir):
    """{tag: [(step, value)]} as TensorBoard shows them (its reader, purging what a restart replaced)."""
    events = event_accumulator.EventAccumulator(str(log_dir)).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_events_hold_the_values_of_metrics_jsonl(trained_run):
    scalars = _scalars(trained_run / TENSORBOARD_DIR)
    rows = _rows(trained_run)
    assert len(rows) == 3
    for key in ("train_loss", "val_top1", "val_top5", "val_loss", "lr", "epoch_time", "images_per_second", "epoch"):
        assert [step for step, _ in scalars[f"epoch/{key}"]] == [row["step"] for row in rows], key
        assert [value for _, value in scalars[f"epoch/{key}"]] == pytest.approx([row[key] for row in rows],
                                                                                 rel=1e-6), key
    steps_per_epoch = rows[0]["step"]
    # Read every log_interval (2) steps and at each epoch's end, as the log lines are.
    expected = sorted({s for e in range(3) for s in (*range(e * steps_per_epoch + 2, (e + 1) * steps_per_epoch + 1,
                                                            2), (e + 1) * steps_per_epoch)})
    assert [step for step, _ in scalars["train/loss"]] == expected
    assert [value for _, value in scalars["train/lr"]] == pytest.approx([3e-4] * len(expected))


def test_a_resumed_run_replaces_the_events_from_its_first_step(tmp_path):
    first = Trackers([TensorBoardEvents(tmp_path, 0)])
    for step in range(1, 7):
        first.metrics({"train/loss": float(step)}, step)
    first.close()
    resumed = Trackers([TensorBoardEvents(tmp_path, 4)])  # resumed from a checkpoint after step 3
    for step in (4, 5):
        resumed.metrics({"train/loss": 100.0 + step}, step)
    resumed.close()
    assert _scalars(tmp_path)["train/loss"] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 104.0), (5, 105.0)]


FILL_THE_DISK = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    from mindcv.engine.tracking import TensorBoardEvents, Trackers
    trackers = Trackers([TensorBoardEvents(sys.argv[1], 0)])
    for step in range(1, 2001):
        trackers.metrics({"train/loss": 1.0 / step}, step)
    trackers.close(timeout=30)
    print("closed", trackers.names)
""")


@pytest.mark.slow
def test_a_full_disk_stops_tensorboard_with_one_warning_and_the_caller_goes_on(tmp_path):
    """A 4 KiB tmpfs (its own mount namespace) fills up after a few dozen events: for real, ENOSPC."""
    log_dir = tmp_path / "events"
    log_dir.mkdir()
    script = f'mount -t tmpfs -o size=4k tmpfs {log_dir} && exec "$@"'
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                           sys.executable, "-c", FILL_THE_DISK, str(log_dir)], cwd=ROOT, env=venv_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed []"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "TensorBoard logging stopped" in warnings[0], done.stderr
    assert "No space left on device" in warnings[0]


def test_mlflow_needs_its_package_and_an_experiment_name(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "mlflow"
                        else real(name, *args))
    with pytest.raises(ConfigError, match=r"'mlflow' True needs MLflow: pip install mlflow"):
        parse_config(["--mlflow", "True"])
    assert parse_config(["--mlflow", "False"]).mlflow is False
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="'mlflow_experiment' must name an experiment"):
        parse_config(["--mlflow_experiment", " "])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """``mlflow server`` on 127.0.0.1: a SQLite store and served artifacts in ``root``."""

    def __init__(self, root):
        pytest.importorskip("mlflow")
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--workers", "1", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
                                      "--artifacts-destination", str(root / "artifacts")],
                                     env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        assert wait_for(self._up, timeout=180, interval=0.5), "mlflow server did not start"

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.mark.slow
def test_an_mlflow_run_holds_the_options_metrics_and_artifacts_and_a_resume_continues_it(mlflow_server,
                                                                                         colour_images, tmp_path):
    run_dir = tmp_path / "run"
    tracking = ["--mlflow", "True", "--mlflow_tracking_uri", mlflow_server.uri, "--mlflow_experiment", "colours",
                "--val_while_train", "True"]
    assert train.main(train_args(colour_images, run_dir, "--epoch_size", "1", "--num_samples", "16", *tracking)) == 0
    assert train.main(train_args(colour_images, run_dir, "--epoch_size", "2", "--num_samples", "16", *tracking,
                                 "--resume_opt", "True", "--ckpt_path", run_dir / "latest.ckpt")) == 0
    client = mlflow_server.client
    record = json.loads((run_dir / MLFLOW_RUN_FILE).read_text())
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert client.get_experiment(run.info.experiment_id).name == "colours"
    assert len(client.search_runs([run.info.experiment_id])) == 1  # the resume went on in the same run
    params = run.data.params
    assert (params["lr"], params["opt"], params["batch_size"], params["epoch_size"]) == ("0.01", "momentum", "8", "1")
    rows = _rows(run_dir)
    for key in ("train_loss", "val_top1", "val_loss", "lr"):
        history = client.get_metric_history(run.info.run_id, f"epoch/{key}")
        assert [(m.step, m.value) for m in history] == [(row["step"], pytest.approx(row[key])) for row in rows], key
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [2, 4]
    artifacts = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id)}
    assert artifacts["best.ckpt"] == (run_dir / "best.ckpt").stat().st_size
    assert {"plot.png", "config.yaml", "metrics.jsonl"} <= set(artifacts)


@pytest.mark.slow
def test_an_mlflow_server_that_dies_mid_run_costs_one_warning_and_tensorboard_goes_on(colour_images, tmp_path):
    server = MlflowServer(tmp_path / "server")
    run_dir = tmp_path / "run"
    try:
        args = train_args(colour_images, run_dir, "--epoch_size", "3", "--num_samples", "16", "--mlflow", "True",
                          "--mlflow_tracking_uri", server.uri, "--val_while_train", "True")
        # MLflow's own retry settings apply (by default it retries a request for minutes; the run waits for its
        # trackers at most a minute at the end): here the first refused request fails.
        env = dict(venv_env(), MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *map(str, args)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: (run_dir / "metrics.jsonl").exists() or proc.poll() is not None, timeout=600)
        server.stop()
        out, err = proc.communicate(timeout=600)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    stopped = [line for line in err.splitlines() if "MLflow" in line and "WARNING" in line]
    assert len(stopped) == 1 and "MLflow logging stopped" in stopped[0], err
    rows = _rows(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    scalars = _scalars(run_dir / TENSORBOARD_DIR)
    assert [step for step, _ in scalars["epoch/val_top1"]] == [row["step"] for row in rows]
