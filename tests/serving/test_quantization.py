"""int8 serving: the export quantized by NNCF on a calibration folder (normalised as the model's input), cached per
weights and calibration data, and checked against MindSpore at the int8 bound before it answers."""
import shutil
import sys
from dataclasses import replace

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from mindcv.serving.backends import MAX_PROBABILITY_DIFF, check_against, create_runner
from mindcv.serving.inference import Predictor
from mindcv.serving.quantization import Calibration, calibration_digest, quantized_path
from mindcv.utils.errors import ConfigError, DataError

from .test_signal_stack import current_signal_stack


@pytest.fixture(scope="module")
def predictor(trained_run):
    """The trained run's model (OpenVINO and NNCF are imported here, not at collection: their import costs a second
    and every test here is slow through the trained run)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    return Predictor.from_checkpoint(str(trained_run / "best.ckpt"))


def _int8(predictor, cache_dir, folder, size=300, backend="openvino"):
    p = predictor.preprocessing
    return create_runner(backend, predictor.network, predictor.model, p.mean, p.std, 4, p.image_size,
                         cache_dir=str(cache_dir), precision="int8", calibration=Calibration(str(folder), size),
                         preprocessing=p)


def _val_images(colour_images) -> np.ndarray:
    files = sorted((colour_images / "val").rglob("*.png"))[::3][:4]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((71, 71))) for f in files])


def _input_quantizer_range(xml) -> float:
    """The half-range of the quantizer NNCF put on the model's input."""
    import openvino

    model = openvino.Core().read_model(str(xml))  # (kept: its nodes live as long as it does)
    (parameter,) = model.get_parameters()
    (quantizer,) = [t.get_node() for t in parameter.output(0).get_target_inputs()
                    if t.get_node().get_type_name() == "FakeQuantize"]
    return float(-quantizer.input_value(1).get_node().get_data().ravel()[0])


def test_the_calibration_subset_spreads_over_the_class_folders(colour_images):
    found = sorted((colour_images / "train").rglob("*.png"))
    assert len(found) == 48
    assert [p.parent.name for p in Calibration(str(colour_images / "train"), 3).files()] == ["blue", "green", "red"]
    assert Calibration(str(colour_images / "train"), 48).files() == found
    assert Calibration(str(colour_images / "train"), 500).files() == found


def test_int8_quantizes_the_export_on_normalised_calibration_images(predictor, colour_images, tmp_path):
    stack = current_signal_stack()
    runner = _int8(predictor, tmp_path, colour_images / "train")
    assert runner.precision == "int8" and current_signal_stack() == stack  # NNCF's and OpenVINO's models compiled
    (xml,) = tmp_path.glob("*-4x71-int8-*.xml")
    assert xml.with_suffix(".bin").is_file() and not list(tmp_path.glob(".*tmp*"))
    # the calibration images reach NNCF as the model's input: normalised with the run's mean and std
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in (colour_images / "train").rglob("*.png")])
    mean, std = np.array(predictor.preprocessing.mean), np.array(predictor.preprocessing.std)
    extreme = float(np.abs((np.stack([pixels.min((0, 1, 2)), pixels.max((0, 1, 2))]) - mean) / std).max())
    assert 0.9 * extreme <= _input_quantizer_range(xml) <= 1.01 * extreme
    images = _val_images(colour_images)
    reference = predictor.network(ms.Tensor(images)).asnumpy()
    report = check_against(runner, reference, images)
    assert report["max_probability_diff"] <= MAX_PROBABILITY_DIFF["int8"] and report["same_top1"]
    assert report["max_abs_logit_diff"] > 1e-5  # int8 arithmetic, not the fp32 graph
    assert np.array_equal(runner(images[:3]), runner(images)[:3])  # a short batch is padded


def test_the_int8_model_is_cached_per_calibration_data(predictor, colour_images, tmp_path):
    folder = tmp_path / "calibration"
    shutil.copytree(colour_images / "train", folder)
    cache = tmp_path / "cache"
    _int8(predictor, cache, folder)
    (export,) = cache.glob("*.onnx")
    (xml,) = cache.glob("*-int8-*.xml")
    assert xml == quantized_path(export, calibration_digest(Calibration(str(folder)).files(), predictor.preprocessing))
    made = xml.stat().st_mtime_ns
    _int8(predictor, cache, folder)
    assert [p.stat().st_mtime_ns for p in cache.glob("*-int8-*.xml")] == [made]
    whole = xml.read_bytes()
    xml.write_bytes(whole[: len(whole) // 2])  # a damaged cache entry is made again, not an error
    _int8(predictor, cache, folder)
    assert xml.read_bytes().count(b"<layer ") == whole.count(b"<layer ")  # whole again (names hold a process counter)
    assert _input_quantizer_range(xml) > 0 and len(list(cache.glob("*-int8-*.xml"))) == 1


def test_the_cache_key_follows_the_calibration_images_and_their_preprocessing(predictor, colour_images, tmp_path):
    """Other images (a smaller subset, or one picture changed under the same name) or another preprocessing give
    another int8 file beside the first (the quantizations behind these names: the test above)."""
    folder = tmp_path / "calibration"
    shutil.copytree(colour_images / "train", folder)
    p = predictor.preprocessing

    def key(size=300, preprocessing=p, images=folder):
        return quantized_path(tmp_path / "x.onnx", calibration_digest(Calibration(str(images), size).files(),
                                                                       preprocessing)).name

    first = key()
    assert key() == first and key(5) != first and key(preprocessing=replace(p, crop_pct=0.5)) != first
    shutil.copytree(folder, tmp_path / "elsewhere")  # the same images in another folder: the same key
    assert key(images=tmp_path / "elsewhere") == first
    image = next(folder.rglob("*.png"))
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)  # the same names, another picture
    assert key() != first


def test_bad_calibration_input_is_refused_before_anything_is_written(predictor, colour_images, tmp_path):
    with pytest.raises(DataError, match="Calibration folder not found: .*nowhere; --calibration_dir"):
        _int8(predictor, tmp_path, tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="int8 needs --backend openvino"):
        _int8(predictor, tmp_path, colour_images / "train", backend="onnxruntime")
    with pytest.raises(ConfigError, match="calibration_size must be >= 1"):
        _int8(predictor, tmp_path, colour_images / "train", size=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No images .* found in folder"):
        _int8(predictor, tmp_path, tmp_path / "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_missing_quantizer_names_the_extra_before_anything_is_written(predictor, colour_images, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(ConfigError, match=r"int8 needs nncf: pip install 'mindcv-xception\[int8\]'"):
        _int8(predictor, tmp_path / "cache", colour_images / "train")
    assert not (tmp_path / "cache").exists()
