"""Experiment tracking of a training run: TensorBoard event files and MLflow runs.

Called by :mod:`mindcv.run.training` (``train.py``; options ``tensorboard``, ``mlflow``, ``mlflow_tracking_uri``,
``mlflow_experiment``) and by :class:`.callbacks.StateMonitor` (MindCV's ``Model`` API). Records go through a
queue to one background thread, so a slow or failing tracker never holds training up: a tracker that fails (its
server down, its disk full) is named in one warning and dropped, and the run goes on (``metrics.jsonl`` keeps
every value). Every value is logged at the run's global step.

- TensorBoard: ``<run dir>/tensorboard/events.out.tfevents.*``, written with tensorboardX's event writer (the
  ``tracking`` extra). A resumed run starts its file with a session start at its first step, so TensorBoard
  drops what an earlier process logged from that step on.
- MLflow: the resolved options as params, the metrics, and at the end ``best.ckpt``, ``plot.png``,
  ``config.yaml`` and ``metrics.jsonl`` as artifacts, in ``mlflow_tracking_uri`` (empty: MLflow's own default,
  ``MLFLOW_TRACKING_URI`` or its local store). The run's id is kept in ``<run dir>/mlflow_run.json``; a resumed
  run logs into the same MLflow run.
"""
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..utils.fileio import write_text_atomic

__all__ = ["Trackers", "TensorBoardEvents", "MLflowRun", "open_trackers", "open_tensorboard", "run_artifacts",
           "TENSORBOARD_DIR", "MLFLOW_RUN_FILE"]

_logger = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
MLFLOW_RUN_FILE = "mlflow_run.json"
ARTIFACTS = ("best.ckpt", "plot.png", "config.yaml", "metrics.jsonl")
_PARAM_LIMIT = 6000  # characters MLflow keeps of a param's value
_BATCH_LIMIT = 100  # params MLflow takes per request


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 300 else text[:297] + "..."


class TensorBoardEvents:
    """Scalars in a TensorBoard event file in ``log_dir``. ``start_step`` > 0 (a resumed run): a session start at
    that step first, so TensorBoard discards the earlier events from that step on."""
    name = "TensorBoard"

    def __init__(self, log_dir: Path, start_step: int = 0):
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.summary import scalar

        self._event, self._scalar = Event, scalar
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        # A file of its own even for a run resumed in the same process and second (the name's time has seconds);
        # TensorBoard reads a folder's files in name order.
        self._writer = EventsWriter(str(Path(log_dir) / "events"), f".{os.getpid()}.{time.monotonic_ns():020d}")
        if start_step > 0:
            self._writer.write_event(Event(step=start_step, wall_time=time.time(),
                                           session_log=SessionLog(status=SessionLog.START)))
        self._writer.flush()

    def start(self, params: Dict) -> None:
        """The file is open; the options are in ``config.yaml``."""

    def metrics(self, values: Dict[str, float], step: int) -> None:
        wall_time = time.time()
        for tag, value in values.items():
            self._writer.write_event(self._event(step=step, wall_time=wall_time, summary=self._scalar(tag, value)))
        self._writer.flush()

    def artifacts(self, paths: List[Path]) -> None:
        """Event files hold scalars only."""

    def close(self, status: str) -> None:
        self._writer.close()


class MLflowRun:
    """One MLflow run through ``MlflowClient`` (no global MLflow state is touched): ``tracking_uri`` (empty:
    MLflow's default), experiment ``experiment``. The run is created (or, for a resumed training run whose
    ``record`` names one, continued) by ``start``, which the background thread calls: an unreachable server
    delays nothing."""
    name = "MLflow"

    def __init__(self, tracking_uri: str, experiment: str, run_dir: Path, resumed: bool):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri or None)
        self.tracking_uri, self.experiment, self.run_dir = tracking_uri, experiment, run_dir
        self.record = run_dir / MLFLOW_RUN_FILE
        previous = json.loads(self.record.read_text()) if resumed and self.record.is_file() else {}
        self.run_id = previous.get("run_id") if previous.get("tracking_uri") == tracking_uri else None

    def start(self, params: Dict) -> None:
        """Continue the recorded run, or create one and log ``params`` (the options, as strings)."""
        from mlflow.entities import Param

        if self.run_id is not None:
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            found = self.client.get_experiment_by_name(self.experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_dir.name).info.run_id
            write_text_atomic(self.record, json.dumps({"tracking_uri": self.tracking_uri,
                                                       "run_id": self.run_id}) + "\n")
            entries = [Param(key, str(value)[:_PARAM_LIMIT]) for key, value in sorted(params.items())]
            for first in range(0, len(entries), _BATCH_LIMIT):
                self.client.log_batch(self.run_id, params=entries[first:first + _BATCH_LIMIT])
        _logger.info("MLflow run %s in %s.", self.run_id, self.client.tracking_uri)

    def metrics(self, values: Dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(value), stamp, step)
                                                    for key, value in values.items()])

    def artifacts(self, paths: List[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


class Trackers:
    """The trackers of one run behind a queue and one background thread. ``params``, ``metrics`` and
    ``artifacts`` return at once; ``close`` waits up to ``timeout`` seconds for the records to be written."""

    def __init__(self, trackers: Iterable = ()):
        self._trackers = list(trackers)
        self._queue: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="mindcv-trackers", daemon=True)
        if self._trackers:
            self._thread.start()

    @property
    def names(self) -> List[str]:
        return [tracker.name for tracker in self._trackers]

    def start(self, params: Dict) -> None:
        self._put("start", params)

    def metrics(self, values: Dict[str, float], step: int) -> None:
        self._put("metrics", {key: value for key, value in values.items() if value is not None}, step)

    def artifacts(self, paths: Iterable[Path]) -> None:
        self._put("artifacts", [Path(p) for p in paths if Path(p).is_file()])

    def close(self, status: str = "FINISHED", timeout: float = 60.0) -> None:
        """End every tracker's run with ``status`` (MLflow's FINISHED, FAILED or KILLED)."""
        if not self._thread.is_alive():
            return
        self._put("close", status)
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            _logger.warning("%s still writing after %.0f s; not waiting (metrics.jsonl has every value).",
                            " and ".join(self.names), timeout)

    def _put(self, method: str, *args) -> None:
        if self._thread.is_alive():
            self._queue.put((method, args))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            method, args = item
            for tracker in list(self._trackers):
                try:
                    getattr(tracker, method)(*args)
                except Exception as exc:  # any failure of a tracker: report once, train on
                    self._trackers.remove(tracker)
                    _logger.warning("%s logging stopped: %s. Training goes on; metrics.jsonl has every value.",
                                    tracker.name, _one_line(exc))


def _tensorboard(run_dir: Path, start_step: int) -> Optional[TensorBoardEvents]:
    try:
        return TensorBoardEvents(run_dir / TENSORBOARD_DIR, start_step)
    except ImportError:
        _logger.info("No TensorBoard events: pip install tensorboardX (or mindcv-xception[tracking]).")
    except OSError as exc:
        _logger.warning("No TensorBoard events: %s. Training goes on.", _one_line(exc))
    return None


def open_tensorboard(run_dir: Path) -> Trackers:
    """TensorBoard events alone, in ``run_dir/tensorboard`` (MindCV's ``StateMonitor``)."""
    events = _tensorboard(run_dir, 0)
    return Trackers([events] if events is not None else [])


def open_trackers(run_dir: Path, start_step: int, params: Dict, tensorboard: bool = False, mlflow: bool = False,
                  mlflow_tracking_uri: str = "", mlflow_experiment: str = "mindcv") -> Trackers:
    """The trackers asked for (the options of the same names), for the run in ``run_dir`` starting at global step
    ``start_step`` (> 0: resumed); a new MLflow run gets ``params``."""
    trackers = [_tensorboard(run_dir, start_step) if tensorboard else None,
                MLflowRun(mlflow_tracking_uri, mlflow_experiment, run_dir, start_step > 0) if mlflow else None]
    opened = Trackers(t for t in trackers if t is not None)
    opened.start(params)
    return opened


def run_artifacts(run_dir: Path) -> List[Path]:
    """The files of a finished run that go to MLflow."""
    return [run_dir / name for name in ARTIFACTS]
