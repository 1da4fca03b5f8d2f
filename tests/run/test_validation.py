"""run/validation.py: the evaluation behind validate.py, scored through any scorer (what the backends benchmark
times)."""
import math

import mindspore as ms
import numpy as np
import pytest

from mindcv.cli import restored_process_state
from mindcv.config import parse_config
from mindcv.models import create_model
from mindcv.run.builder import build_runtime, build_validation
from mindcv.run.validation import run_validation
from tests.helpers import TRAIN_ARGS


def _config(data_dir, *extra):
    return parse_config([*TRAIN_ARGS, "--dataset", "imagefolder", "--data_dir", str(data_dir), "--num_classes", "3",
                         "--mode", "1", "--batch_size", "4", *[str(e) for e in extra]])


def test_run_validation_scores_through_the_given_scorer(colour_images, tmp_path, caplog):
    checkpoint = tmp_path / "random.ckpt"
    ms.save_checkpoint(create_model("xception", num_classes=3), str(checkpoint))
    config = _config(colour_images, "--ckpt_path", checkpoint)
    with restored_process_state():
        runtime = build_runtime(config)
        parts = build_validation(config, runtime)
        assert parts.class_names == ["blue", "green", "red"] and parts.batches == 5  # 18 images, batches of 4
        assert parts.scorer is parts.network and parts.backend == "" and parts.checkpoint_meta == {}

        def always_red(images):
            return np.tile([0.0, 0.0, 5.0], (len(images), 1))

        metrics = run_validation(runtime, parts, scorer=always_red)
    # 6 images per class; the red ones are right, each costs log(1 + 2e^-5), the others 5 more
    assert metrics["num_images"] == 18
    assert metrics["top1"] == pytest.approx(100 / 3) and metrics["top5"] == pytest.approx(100.0)
    assert metrics["loss"] == pytest.approx(10 / 3 + math.log1p(2 * math.exp(-5)), rel=1e-6)

