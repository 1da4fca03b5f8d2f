import pytest

from mindcv.utils.config import ConfigError, build_parser, parse_config


def test_precedence_default_yaml_cli(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("lr: 0.2\nbatch_size: 8\nscale: [0.5, 1.0]\n")
    config = parse_config(["-c", str(config_file), "--batch_size", "4", "--distribute", "True"])
    assert (config.lr, config.batch_size, config.scale, config.distribute) == (0.2, 4, [0.5, 1.0], True)
    assert config.momentum == 0.9


def test_unknown_keys_suggest_close_names(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("learning_rat: 0.1\nwarmup_epoch: 3\n")
    with pytest.raises(ConfigError, match="Unknown option 'learning_rat'"):
        parse_config(["-c", str(config_file)])
    with pytest.raises(ConfigError, match="Did you mean: batch_size"):
        parse_config(["--batch_siz", "3"])


def test_types_are_checked():
    with pytest.raises(ConfigError, match="'batch_size' .* invalid value '3.5'"):
        parse_config(["--batch_size", "3.5"])
    with pytest.raises(ConfigError, match="'distribute' .* expected True or False"):
        parse_config(["--distribute", "maybe"])
    with pytest.raises(ConfigError, match="amp_level.*must be one of"):
        parse_config(["--amp_level", "O4"])


def test_yaml_syntax_error_shows_line(tmp_path):
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("lr: 0.1\nbatch_size: [1, 2\nopt: sgd\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML at line 3"):
        parse_config(["-c", str(config_file)])
    with pytest.raises(ConfigError, match="Config file not found"):
        parse_config(["-c", str(tmp_path / "none.yaml")])


def test_help_is_grouped_with_defaults():
    text = build_parser("x").format_help()
    for group in ("system:", "dataset:", "augmentation:", "model:", "loss:", "lr:", "optimizer:", "training:",
                  "checkpoint:"):
        assert group in text
    assert "(default: 0.001)" in text
