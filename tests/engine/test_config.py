"""Options: MindCV's names, defaults and meanings; every upstream recipe resolves; bad values fail at parse time."""
import json
from pathlib import Path

import pytest
import yaml

import train
import validate
from mindcv.engine.config import OPTIONS, ConfigError, build_parser, dump_config, parse_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
MINDCV_OPTIONS = json.loads((FIXTURES / "mindcv_options.json").read_text())
RECIPES = json.loads((FIXTURES / "mindcv_recipes.json").read_text())
ADDED_HERE = {"jit_level", "val_num_samples", "bn_momentum", "overwrite", "max_nonfinite_steps",
              "python_multiprocessing"}
DIFFERENT_DEFAULTS = {"device_target": "auto"}  # the only MindCV default changed (README, Differences)


def test_every_mindcv_option_exists_with_its_default():
    ours = {o.name: o.default for o in OPTIONS}
    for name, spec in MINDCV_OPTIONS.items():
        if name == "config":
            continue
        assert name in ours, name
        expected = DIFFERENT_DEFAULTS.get(name, spec["default"])
        if isinstance(expected, float) or isinstance(ours[name], float):
            assert ours[name] == pytest.approx(expected), name
        elif isinstance(expected, list):
            assert ours[name] == pytest.approx(expected), name
        else:
            assert ours[name] == expected, name
    assert set(ours) - set(MINDCV_OPTIONS) == ADDED_HERE


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_upstream_recipe_resolves(recipe, tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPES[recipe]))
    assert train.main(["-c", str(path), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    for key, value in RECIPES[recipe].items():
        expected = value.lower() if key in ("opt", "scheduler") and isinstance(value, str) else value
        expected = expected.upper() if key == "loss" else expected
        if isinstance(expected, str) and isinstance(printed[key], float):
            expected = float(expected)  # YAML 1.1 reads 1e-3 (no dot) as a string; the option is a number
        assert printed[key] == (pytest.approx(expected) if isinstance(expected, (float, list)) else expected), key


def test_validate_prints_config_too(capsys):
    assert validate.main(["-c", str(ROOT / "configs" / "xception" / "xception_ascend.yaml"), "--print_config"]) == 0
    assert "model: xception" in capsys.readouterr().out


def test_published_xception_recipe_is_upstreams_file():
    ours = yaml.safe_load((ROOT / "configs" / "xception" / "xception_ascend.yaml").read_text())
    assert ours == RECIPES["xception/xception_ascend.yaml"]


def test_precedence_default_yaml_cli(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("lr: 0.2\nbatch_size: 8\nscale: [0.5, 1.0]\n")
    config = parse_config(["-c", str(config_file), "--batch_size", "4", "--distribute", "True"])
    assert (config.lr, config.batch_size, config.scale, config.distribute) == (0.2, 4, [0.5, 1.0], True)
    assert config.momentum == 0.9 and config.opt == "adam" and config.color_jitter == 0.4


def test_bare_boolean_flags():
    config = parse_config(["--distribute", "--val_while_train", "--ema"])
    assert (config.distribute, config.val_while_train, config.ema) == (True, True, True)
    assert parse_config(["--distribute", "False"]).distribute is False


def test_unknown_keys_suggest_close_names(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("learning_rat: 0.1\nwarmup_epoch: 3\n")
    with pytest.raises(ConfigError, match="Unknown option 'learning_rat'"):
        parse_config(["-c", str(config_file)])
    with pytest.raises(ConfigError, match="Did you mean: batch_size"):
        parse_config(["--batch_siz", "3"])
    with pytest.raises(KeyError):  # what MindCV's config raises, for code that catches it
        parse_config(["--batch_siz", "3"])


@pytest.mark.parametrize("argv, message", [
    (["--batch_size", "3.5"], "'batch_size' .* invalid value '3.5'"),
    (["--distribute", "maybe"], "'distribute' .* expected True or False"),
    (["--amp_level", "O4"], "amp_level.*must be one of"),
    (["--val_interval", "0"], "'val_interval' .* must be >= 1"),
    (["--ckpt_save_interval", "0"], "'ckpt_save_interval' .* must be >= 1"),
    (["--log_interval", "0"], "'log_interval' .* must be >= 1"),
    (["--lr", "-1"], "'lr' .* must be >= 0"),
    (["--label_smoothing", "1.5"], "'label_smoothing' .* must be between 0.0 and 0.999"),
    (["--loss_scale", "0.5"], "'loss_scale' .* must be >= 1.0"),
    (["--opt", "adamz"], "Did you mean: adam"),
    (["--lr", "nan"], "finite number"),
])
def test_values_are_checked_when_parsed(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(argv)


def test_case_and_yaml_spellings_of_upstream_recipes(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("opt: AdamW\nloss: ce\neps: 1e-3\nre_value: random\ncolor_jitter: [0.4, 0.4, 0.4]\n")
    config = parse_config(["-c", str(config_file)])
    assert (config.opt, config.loss, config.eps, config.re_value) == ("adamw", "CE", 1e-3, "random")
    assert config.color_jitter == [0.4, 0.4, 0.4]


def test_yaml_syntax_and_encoding_errors_name_the_file(tmp_path):
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("lr: 0.1\nbatch_size: [1, 2\nopt: sgd\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML at line 3"):
        parse_config(["-c", str(config_file)])
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.yaml is not UTF-8"):
        parse_config(["-c", str(latin)])
    with pytest.raises(ConfigError, match="Config file not found"):
        parse_config(["-c", str(tmp_path / "none.yaml")])


def test_print_config_round_trips(tmp_path):
    config = parse_config(["--lr", "0.3", "--scale", "0.2,1.0"])
    dumped = tmp_path / "dump.yaml"
    dumped.write_text(dump_config(config))
    again = parse_config(["-c", str(dumped)])
    assert vars(again) == dict(vars(config), config=str(dumped))


def test_help_is_grouped_with_defaults():
    text = build_parser("x").format_help()
    for group in ("system:", "dataset:", "augmentation:", "model:", "optimizer:", "scheduler:", "loss:", "amp:"):
        assert group in text
    assert "(default: 0.001)" in text and "--print_config" in text
