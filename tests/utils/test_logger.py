"""MindCV's set_logger: configured once per name, console on rank 0, a file per rank."""
import logging

from mindcv.utils import logger as logger_module
from mindcv.utils import set_logger
from mindcv.utils.logger import console_logging, log_file


def test_set_logger_configures_once_with_a_file_per_rank(tmp_path, capsys):
    name = "mindcv_test_logger"
    try:
        log = set_logger(name, output_dir=str(tmp_path), rank=1)
        assert set_logger(name, output_dir=str(tmp_path), rank=1) is log and len(log.handlers) == 1
        assert not log.propagate
        log.info("hello %d", 3)
        log.handlers[0].flush()
        assert "hello 3" in (tmp_path / "rank1.log").read_text()
        assert capsys.readouterr().out == ""  # rank 1 has no console
    finally:
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            handler.close()
            log.removeHandler(handler)
        logger_module._configured.pop(name, None)


def _state():
    logger = logging.getLogger("mindcv")
    return logger.level, logger.propagate, list(logger.handlers)


def test_command_logging_is_put_back(tmp_path, capsys):
    before = _state()
    with console_logging(rank=0), log_file(tmp_path / "run" / "train.log"):
        logging.getLogger("mindcv.engine.x").info("inside %s", "the run")
    assert _state() == before
    assert "inside the run" in capsys.readouterr().err
    assert "inside the run" in (tmp_path / "run" / "train.log").read_text()
    with console_logging(rank=1):
        logging.getLogger("mindcv.engine.x").warning("not on rank 1's console")
    assert capsys.readouterr().err == "" and _state() == before
