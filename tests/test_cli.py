"""The entry points' error contract: user errors are one line with exit code 2, bugs keep their traceback."""
import pytest

from mindcv.cli import run_cli
from mindcv.utils.errors import ConfigError, DataError


def _raise(exc):
    def main():
        raise exc
    return main


def test_user_errors_are_one_line_with_exit_code_2(capsys):
    assert run_cli(_raise(ConfigError("Option 'lr' must be >= 0, got -1."))) == 2
    assert capsys.readouterr().err == "error: Option 'lr' must be >= 0, got -1.\n"


def test_errors_raised_inside_mindspores_data_pipeline_are_unwrapped(capsys):
    wrapped = RuntimeError("Exception thrown from user defined Python function in dataset.\n"
                           "------------------------------------------------------------------\n"
                           "mindcv.utils.errors.DataError: None of the 3 images could be read; the failures were "
                           "logged above.\n\nC++ Call Stack: ...")
    assert run_cli(_raise(wrapped)) == 2
    assert capsys.readouterr().err == "error: None of the 3 images could be read; the failures were logged above.\n"


def test_bugs_keep_their_traceback():
    with pytest.raises(KeyError):
        run_cli(_raise(KeyError("a bug")))
    with pytest.raises(RuntimeError, match="MindSpore internal"):
        run_cli(_raise(RuntimeError("MindSpore internal error")))


def test_error_types_are_one_family():
    assert issubclass(DataError, ValueError) and issubclass(ConfigError, ValueError)
