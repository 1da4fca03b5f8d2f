"""MindCV's callbacks for ``mindspore.Model``: :class:`StateMonitor` (progress log, validation, checkpoints,
``result.log``, summary) and :class:`ValCallback` (evaluation progress), for scripts written against MindCV.
``train.py`` runs its own loop and does not use them."""
import logging
import os
from pathlib import Path
from time import time
from typing import Optional, Sequence

import mindspore as ms
import numpy as np
from mindspore import ParameterTuple, Tensor, ops
from mindspore.train import Callback

from ..utils.checkpoint import EMA_PREFIX, CheckpointManager, save_checkpoint_atomic
from .distributed import AllReduceSum
from .summary import ScalarSummary
from .tracking import Trackers, open_tensorboard

__all__ = ["StateMonitor", "ValCallback"]

_logger = logging.getLogger(__name__)


def _loss_of(outputs) -> Optional[float]:
    """The loss in a training network's outputs (the first element of a tuple), averaged."""
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0] if outputs else None
    if outputs is None:
        return None
    return float(np.mean(outputs.asnumpy() if isinstance(outputs, Tensor) else outputs))


class StateMonitor(Callback):
    """Logs the loss and learning rate every ``log_interval`` steps (and the first and last of each epoch),
    validates on ``dataset_val`` every ``val_interval`` epochs from ``val_start_epoch`` (averaged over the
    ``device_num`` ranks; the EMA weights when ``model_ema``), and on rank 0 saves ``<model_name>_best.ckpt`` when
    validation improves, every ``ckpt_save_interval`` epochs ``<model_name>-<epoch>_<batch>.ckpt`` (kept by
    ``ckpt_save_policy``, ``ckpt_keep_max`` files) with ``optim_<model_name>.ckpt``, and a line per epoch in
    ``result.log``; scalars go to a MindSpore summary in ``summary_dir`` (written in this process: see
    :mod:`.summary`) and, with tensorboardX installed, to TensorBoard events in ``summary_dir/tensorboard``.
    MindCV's signature and file names;
    checkpoints are written atomically. ``last_epoch`` offsets the epoch numbers of a resumed run.
    """

    def __init__(self, model: ms.Model, model_name: str = "", model_ema: bool = False, last_epoch: int = 0,
                 dataset_sink_mode: bool = True, dataset_val=None, metric_name: Sequence[str] = ("accuracy",),
                 val_interval: int = 1, val_start_epoch: int = 1, save_best_ckpt: bool = True,
                 ckpt_save_dir: str = "./", ckpt_save_interval: int = 1, ckpt_save_policy: Optional[str] = None,
                 ckpt_keep_max: int = 10, summary_dir: str = "./", log_interval: int = 100,
                 rank_id: Optional[int] = None, device_num: Optional[int] = None):
        super().__init__()
        self.model = model
        self.model_name = model_name
        self.model_ema = model_ema
        self.last_epoch = last_epoch
        self.dataset_sink_mode = dataset_sink_mode
        self.dataset_val = dataset_val
        self.metric_name = list(metric_name)
        self.val_interval = val_interval
        self.val_start_epoch = val_start_epoch
        self.save_best_ckpt = save_best_ckpt
        self.ckpt_save_dir = ckpt_save_dir
        self.ckpt_save_interval = ckpt_save_interval
        self.ckpt_keep_max = ckpt_keep_max
        self.ckpt_manager = CheckpointManager(ckpt_save_policy)
        self.summary_dir = summary_dir
        self.log_interval = log_interval
        self.rank_id = rank_id or 0
        self.device_num = device_num if rank_id is not None and device_num else 1
        self.all_reduce = AllReduceSum() if self.device_num > 1 else None
        self.best_res, self.best_epoch = 0.0, -1
        self.step_start = self.epoch_start = 0.0
        self.step_time = 0.0
        self.summary_record = None
        self.trackers = Trackers()  # TensorBoard events beside the summary, on rank 0 inside ``with``
        self.log_file = os.path.join(ckpt_save_dir, "result.log")
        if self.rank_id == 0:
            os.makedirs(ckpt_save_dir, exist_ok=True)
            columns = ["Epoch", "TrainLoss", *self.metric_name, "TrainTime", "EvalTime", "TotalTime"]
            with open(self.log_file, "w", encoding="utf-8") as log:
                log.write("".join(f"{column:<20}" for column in columns) + "\n")
        if model_ema:
            self.hyper_map = ops.HyperMap()
            self.online_params = ParameterTuple(list(model.train_network.get_parameters()))
            self.swap_params = self.online_params.clone("swap", "zeros")

    def __enter__(self):
        self.summary_record = ScalarSummary(self.summary_dir)
        if self.rank_id == 0:
            self.trackers = open_tensorboard(Path(self.summary_dir))
        return self

    def __exit__(self, *exc_args):
        self.summary_record.close()
        self.trackers.close()

    def _positions(self, cb_params):
        batches = cb_params.batch_num
        step = cb_params.cur_step_num + self.last_epoch * batches
        return cb_params.cur_epoch_num + self.last_epoch, (step - 1) % batches + 1, step

    def _train_cell(self, cb_params):
        return cb_params.train_network.network if self.dataset_sink_mode else cb_params.train_network

    def _optimizer(self, cb_params):
        return cb_params.optimizer or self._train_cell(cb_params).optimizer

    def _lr(self, cb_params) -> float:
        optimizer = self._optimizer(cb_params)
        if not optimizer.dynamic_lr:
            return float(optimizer.learning_rate.asnumpy())
        step = max(int(optimizer.global_step.asnumpy().reshape(-1)[0]) - 1, 0)  # global_step is the next step
        schedule = optimizer.learning_rate[0] if isinstance(optimizer.learning_rate, ms.nn.CellList) \
            else optimizer.learning_rate
        return float(schedule(Tensor(step, ms.int32)).asnumpy().reshape(-1)[0])

    def on_train_step_begin(self, run_context):
        self.step_start = time()

    def on_train_epoch_begin(self, run_context):
        self.epoch_start = time()

    def on_train_step_end(self, run_context):
        cb_params = run_context.original_args()
        epoch, batch, _ = self._positions(cb_params)
        self.step_time += time() - self.step_start
        if batch % self.log_interval == 0 or batch in (1, cb_params.batch_num):
            _logger.info(f"Epoch: [{epoch}/{cb_params.epoch_num}], batch: [{batch}/{cb_params.batch_num}], "
                         f"loss: {_loss_of(cb_params.net_outputs):.6f}, lr: {self._lr(cb_params):.6f}, "
                         f"time: {self.step_time:.6f}s")
            self.step_time = 0.0

    def _evaluate(self, cb_params) -> np.ndarray:
        if self.model_ema:  # evaluate the EMA weights, then put the trained ones back
            self.hyper_map(ops.assign, self.swap_params, self.online_params)
            ema = {p.name[len(EMA_PREFIX):]: p.data for p in self._train_cell(cb_params).get_parameters()
                   if p.name.startswith(EMA_PREFIX)}
            ms.load_param_into_net(self.model.train_network.network, ema)
            results = self.model.eval(self.dataset_val, dataset_sink_mode=False)
            self.hyper_map(ops.assign, self.online_params, self.swap_params)
        else:
            results = self.model.eval(self.dataset_val, dataset_sink_mode=False)
        values = Tensor(list(results.values()), ms.float32)
        if self.all_reduce is not None:
            values = self.all_reduce(values) / self.device_num
        return values.asnumpy()

    def _save(self, cb_params, epoch: int, batch: int, metric: float) -> None:
        network = cb_params.train_network
        if self.save_best_ckpt and self.best_epoch == epoch:
            save_checkpoint_atomic(network, os.path.join(self.ckpt_save_dir, f"{self.model_name}_best.ckpt"))
        if epoch % self.ckpt_save_interval == 0 or epoch == cb_params.epoch_num:
            save_checkpoint_atomic(self._optimizer(cb_params),
                                   os.path.join(self.ckpt_save_dir, f"optim_{self.model_name}.ckpt"))
            path = os.path.join(self.ckpt_save_dir, f"{self.model_name}-{epoch}_{batch}.ckpt")
            _logger.info(f"Saving model to {path}")
            self.ckpt_manager.save_ckpoint(network, num_ckpt=self.ckpt_keep_max, metric=metric, save_path=path)

    def on_train_epoch_end(self, run_context):
        cb_params = run_context.original_args()
        epoch, batch, step = self._positions(cb_params)
        train_time = time() - self.epoch_start
        loss = _loss_of(cb_params.net_outputs)
        results, val_time = np.zeros(len(self.metric_name), np.float32), 0.0
        due = epoch >= self.val_start_epoch and (epoch - self.val_start_epoch) % self.val_interval == 0
        if self.dataset_val is not None and due:
            started = time()
            results = self._evaluate(cb_params)
            val_time = time() - started
            scores = ", ".join(f"{name}: {value:.4%}" for name, value in zip(self.metric_name, results))
            _logger.info(f"Validation {scores}, time: {val_time:.6f}s")
            if results[0] > self.best_res:
                self.best_res, self.best_epoch = float(results[0]), epoch
                _logger.info(f"=> New best val acc: {results[0]:.4%}")
        if self.rank_id == 0:
            self._save(cb_params, epoch, batch, float(results[0]))
        total_time = time() - self.epoch_start
        _logger.info(f"Total time since last epoch: {total_time:.6f}(train: {train_time:.6f}, val: {val_time:.6f})s, "
                     f"ETA: {(cb_params.epoch_num - epoch) * total_time:.6f}s")
        _logger.info("-" * 80)
        if self.rank_id == 0:
            fields = [f"{epoch}", f"{loss:.6f}", *[f"{value:.4%}" for value in results], f"{train_time:.2f}",
                      f"{val_time:.2f}", f"{total_time:.2f}"]
            with open(self.log_file, "a", encoding="utf-8") as log:
                log.write("".join(f"{field:<20}" for field in fields) + "\n")
        if self.summary_record is not None:
            self.summary_record.add_value("scalar", f"train_loss_{self.rank_id}", Tensor(loss, ms.float32))
            for name, value in zip(self.metric_name, results):
                self.summary_record.add_value("scalar", f"val_{name}_{self.rank_id}", Tensor(value, ms.float32))
            self.summary_record.record(step)
        self.trackers.metrics({f"train_loss_{self.rank_id}": loss, **{f"val_{name}_{self.rank_id}": float(value)
                                                                     for name, value in zip(self.metric_name,
                                                                                            results)}}, step)

    def on_train_end(self, run_context):
        _logger.info("Finish training!")
        if self.dataset_val is not None:
            _logger.info(f"The best validation {self.metric_name[0]} is: {self.best_res:.4%} "
                         f"at epoch {self.best_epoch}.")
        _logger.info("=" * 80)


class ValCallback(Callback):
    """Prints the evaluation's progress every ``log_interval`` batches and at the last one."""

    def __init__(self, log_interval: int = 100):
        super().__init__()
        self.log_interval = log_interval
        self.started = time()

    def on_eval_step_end(self, run_context):
        cb_params = run_context.original_args()
        if cb_params.cur_step_num % self.log_interval == 0 or cb_params.cur_step_num == cb_params.batch_num:
            print(f"batch: {cb_params.cur_step_num}/{cb_params.batch_num}, time: {time() - self.started:.6f}s")
            self.started = time()
