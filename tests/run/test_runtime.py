"""Device selection."""
import train
from tests.helpers import train_args


def test_unavailable_device_target_is_a_clear_error(colour_images, tmp_path, capsys):
    assert train.main(train_args(colour_images, tmp_path, "--device_target", "GPU")) == 2
    err = capsys.readouterr().err
    assert "device_target GPU is not available in this MindSpore build" in err and err.count("\n") == 1
