"""MindCV's set_logger: configured once per name, console on rank 0, a file per rank."""
import logging

from mindcv.utils import set_logger
from mindcv.utils import logger as logger_module


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
