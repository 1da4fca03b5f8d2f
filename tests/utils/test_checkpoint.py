"""Checkpoint files: MindCV's CheckpointManager keeps what its policy says, written atomically."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.utils import CheckpointManager
from mindcv.utils.checkpoint import is_training_extra


def _saved(manager, directory, metrics, policy_keep=2):
    net = nn.Dense(2, 2)
    kept = None
    for step, metric in enumerate(metrics, 1):
        net.weight.set_data(ms.Tensor(np.full((2, 2), step, np.float32)))
        path = str(directory / f"n-{step}.ckpt")
        kept = manager.save_ckpoint(net, num_ckpt=policy_keep, metric=metric, save_path=path)
    return kept


def test_top_k_keeps_the_best_metrics_best_first(tmp_path):
    kept = _saved(CheckpointManager("top_k"), tmp_path, [0.2, 0.5, 0.1, 0.4])
    assert kept == [(str(tmp_path / "n-2.ckpt"), 0.5), (str(tmp_path / "n-4.ckpt"), 0.4)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n-2.ckpt", "n-4.ckpt"]
    assert float(ms.load_checkpoint(str(tmp_path / "n-4.ckpt"))["weight"].asnumpy()[0, 0]) == 4.0


def test_latest_k_keeps_the_newest(tmp_path):
    kept = _saved(CheckpointManager("latest_k"), tmp_path, [None] * 4)
    assert kept == [str(tmp_path / "n-3.ckpt"), str(tmp_path / "n-4.ckpt")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n-3.ckpt", "n-4.ckpt"]


def test_no_policy_keeps_everything_and_top_k_needs_a_metric(tmp_path):
    assert _saved(CheckpointManager(), tmp_path, [None] * 3) is None
    assert len(list(tmp_path.iterdir())) == 3
    with pytest.raises(ValueError, match="pass metric"):
        CheckpointManager("top_k").save_ckpoint(nn.Dense(2, 2), save_path=str(tmp_path / "x.ckpt"))
    with pytest.raises(ValueError, match="ckpt_save_policy must be"):
        CheckpointManager("best")


def test_existing_files_are_listed_by_prefix(tmp_path):
    for name in ("net-1_10.ckpt", "net-2_10.ckpt", "net_best.ckpt", "net-x.ckpt", "other-1_1.ckpt"):
        (tmp_path / name).write_bytes(b"")
    manager = CheckpointManager("latest_k")
    manager.update_ckpoint_filelist(str(tmp_path), "net")
    assert manager.ckpoint_filelist == [str(tmp_path / "net-1_10.ckpt"), str(tmp_path / "net-2_10.ckpt")]


def test_training_extras_are_recognised():
    for name in ("moments.conv1.weight", "adam_m.bn1.gamma", "adam_v.x", "global_step", "learning_rate",
                 "ema.conv1.weight", "scale_sense"):
        assert is_training_extra(name)
    assert not is_training_extra("conv1.weight")
