"""MindCV's callbacks on mindspore.Model: progress, validation, checkpoints by policy, result.log, summary."""
import logging

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset

from mindcv.engine.callbacks import StateMonitor, ValCallback
from mindcv.engine.trainer_factory import create_trainer, get_metrics
from mindcv.loss import create_loss
from mindcv.optim import create_optimizer
from tests.helpers import read_events


def _fit(tmp_path, policy, epochs=3):
    rng = np.random.default_rng(0)
    data, labels = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 5, 16).astype(np.int32)
    loader = NumpySlicesDataset((data, labels), ["x", "y"], shuffle=False).batch(4)
    net = nn.Dense(4, 5)
    optimizer = create_optimizer(net, "momentum", lr=[0.1] * 4 * epochs, momentum=0.9)
    model = create_trainer(net, create_loss("CE"), optimizer, get_metrics(5), "O0", None, "fixed", 1.0)
    monitor = StateMonitor(model, model_name="net", dataset_val=loader, metric_name=["Top_1_Accuracy",
                           "Top_5_Accuracy"], ckpt_save_dir=str(tmp_path), ckpt_save_policy=policy, ckpt_keep_max=2,
                           summary_dir=str(tmp_path / "summary"), log_interval=2, dataset_sink_mode=False)
    model.train(epochs, loader, callbacks=[monitor], dataset_sink_mode=False)
    return net, monitor, loader


@pytest.mark.slow  # trains three epochs through mindspore.Model
def test_state_monitor_logs_validates_and_keeps_checkpoints(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mindcv")
    net, monitor, loader = _fit(tmp_path, "latest_k")
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".ckpt")
    assert names == ["net-2_4.ckpt", "net-3_4.ckpt", "net_best.ckpt", "optim_net.ckpt"]
    saved = ms.load_checkpoint(str(tmp_path / "net-3_4.ckpt"))
    np.testing.assert_array_equal(saved["weight"].asnumpy(), net.weight.asnumpy())
    assert "moments.weight" in saved and "learning_rate" in ms.load_checkpoint(str(tmp_path / "optim_net.ckpt"))
    lines = (tmp_path / "result.log").read_text().splitlines()
    assert lines[0].split() == ["Epoch", "TrainLoss", "Top_1_Accuracy", "Top_5_Accuracy", "TrainTime", "EvalTime",
                                "TotalTime"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    top1 = ms.Model(net, loss_fn=create_loss("CE"), metrics=get_metrics(5)).eval(loader)["Top_1_Accuracy"]
    assert lines[3].split()[2] == f"{top1:.4%}"  # the last epoch's validation, as MindCV writes it
    logged = caplog.text
    assert "Epoch: [1/3], batch: [2/4], loss: " in logged and "lr: 0.100000" in logged
    assert "Epoch: [3/3], batch: [4/4]" in logged and "Finish training!" in logged
    (events_file,) = (tmp_path / "summary").glob("events.*")  # MindSpore summary: its first event, one per epoch
    events = read_events(events_file)
    last = {value.tag: value.scalar_value for value in events[-1].summary.value}
    assert f"{last['train_loss_0']:.6f}" == lines[3].split()[1]
    assert last["val_Top_1_Accuracy_0"] == pytest.approx(top1) and len(events) == 4
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    tensorboard = accumulator.EventAccumulator(str(tmp_path / "summary" / "tensorboard")).Reload()
    for tag in ("train_loss_0", "val_Top_1_Accuracy_0", "val_Top_5_Accuracy_0"):  # the same scalars, same steps
        summary = [(e.step, {v.tag: v.scalar_value for v in e.summary.value}[tag]) for e in events[1:]]
        assert [(e.step, e.value) for e in tensorboard.Scalars(tag)] == summary, tag


@pytest.mark.slow
def test_top_k_keeps_the_best_validated_epochs(tmp_path):
    _, monitor, _ = _fit(tmp_path, "top_k")
    kept = monitor.ckpt_manager.ckpoint_filelist
    assert len(kept) == 2 and kept[0][1] >= kept[1][1]
    assert sorted(p.name for p in tmp_path.glob("net-*.ckpt")) == sorted(ms_path.rsplit("/", 1)[1]
                                                                          for ms_path, _ in kept)


def test_val_callback_prints_progress(capsys):
    rng = np.random.default_rng(1)
    loader = NumpySlicesDataset((rng.normal(size=(6, 4)).astype(np.float32), np.zeros(6, np.int32)), ["x", "y"],
                                shuffle=False).batch(2)
    model = ms.Model(nn.Dense(4, 2), loss_fn=create_loss("CE"), metrics=get_metrics(2))
    model.eval(loader, dataset_sink_mode=False, callbacks=[ValCallback(log_interval=2)])
    printed = capsys.readouterr().out
    assert "batch: 2/3" in printed and "batch: 3/3" in printed and "batch: 1/3" not in printed


