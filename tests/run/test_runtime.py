"""Device selection; MindSpore's compile cache refused."""
import train
from mindcv.run.runtime import refuse_compile_cache
from tests.helpers import train_args


def test_unavailable_device_target_is_a_clear_error(colour_images, tmp_path, capsys):
    assert train.main(train_args(colour_images, tmp_path, "--device_target", "GPU")) == 2
    err = capsys.readouterr().err
    assert "device_target GPU is not available in this MindSpore build" in err and err.count("\n") == 1


def test_mindspores_compile_cache_is_refused_before_anything_is_written(colour_images, tmp_path, monkeypatch, capsys):
    """Its cached graphs follow the compile order, not the options (a momentum run after an adamw run trained with
    other weights than uncached): a run with it on is refused in one line and writes nothing."""
    monkeypatch.setenv("MS_COMPILER_CACHE_ENABLE", "1")
    monkeypatch.setenv("MS_COMPILER_CACHE_PATH", str(tmp_path / "cache"))
    assert train.main(train_args(colour_images, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "MindSpore's compile cache is on" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
    monkeypatch.setenv("MS_COMPILER_CACHE_ENABLE", "0")
    refuse_compile_cache()  # off: nothing to refuse
