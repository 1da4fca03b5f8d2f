"""validate.py: scores a train.py checkpoint like training did, and never scores the wrong classifier."""
import pytest

import validate
from mindcv.models import create_model
from tests.helpers import TRAIN_ARGS as COMMON
from tests.test_train import TINY, _metrics, process_state


def _colour_args(colour_images, *extra):
    return COMMON + ["--dataset", "imagefolder", "--data_dir", str(colour_images), "--mode", "0",
                     "--batch_size", "4", *[str(e) for e in extra]]


def test_validate_reproduces_final_top1(trained_run, colour_images, capsys):
    final = _metrics(trained_run)[-1]
    before = process_state()
    assert validate.main(_colour_args(colour_images, "--ckpt_path", trained_run / "latest.ckpt")) == 0
    assert process_state() == before  # graph mode, logging and seeds were the command's only
    out = capsys.readouterr().out
    assert f"top-1 {final['val_top1']:.2f}%" in out and "18 images" in out


def test_without_or_with_missing_checkpoint_fails_clearly(tmp_path, capsys):
    assert validate.main(TINY + ["--ckpt_path", str(tmp_path / "missing.ckpt")]) == 2
    assert "Checkpoint file not found" in capsys.readouterr().err
    assert validate.main(TINY) == 2
    assert "never evaluates random weights" in capsys.readouterr().err


def test_a_checkpoint_of_another_classifier_is_refused(colour_images, tmp_path, capsys):
    import mindspore as ms

    path = tmp_path / "ten.ckpt"
    ms.save_checkpoint(create_model("xception", num_classes=10), str(path))
    assert validate.main(_colour_args(colour_images, "--ckpt_path", path, "--num_classes", "3")) == 2
    err = capsys.readouterr().err
    assert "classifier of shape (10, 2048)" in err and "(3, 2048)" in err


def test_a_split_without_readable_images_is_an_error(tmp_path, trained_run, capsys):
    for name in ("blue", "green", "red"):
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "train" / name / "0.png").write_bytes(b"broken")
        (tmp_path / "val" / name).mkdir(parents=True)
        (tmp_path / "val" / name / "0.png").write_bytes(b"broken")
    assert validate.main(_colour_args(tmp_path, "--ckpt_path", trained_run / "best.ckpt")) == 2
    assert "Validation saw no images" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--print_config"])
def test_print_config(flag, capsys):
    assert validate.main(TINY + [flag]) == 0
    assert "dataset: fashion_mnist" in capsys.readouterr().out
