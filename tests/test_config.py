"""Options: MindCV's names, defaults and meanings; every upstream recipe resolves; bad values fail at parse time."""
import json
from pathlib import Path

import pytest
import yaml

import train
import validate
from mindcv.config import (OPTIONS, ConfigError, SavedRun, build_parser, dump_config, evaluation_preprocessing,
                           parse_config, parse_saved_config, read_saved_run, resolve_options)
from mindcv.data.transforms_factory import Preprocessing

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
MINDCV_OPTIONS = json.loads((FIXTURES / "mindcv_options.json").read_text())
RECIPES = json.loads((FIXTURES / "mindcv_recipes.json").read_text())
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
    # the options MindCV lacks are exactly those whose help says "added here" (the docs' list is drawn from it)
    assert set(ours) - set(MINDCV_OPTIONS) == {o.name for o in OPTIONS if "added here" in o.help}


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


WRONG_TYPE = {"int": "abc", "int_or_none": "abc", "float": "abc", "float_or_none": "abc", "bool": "maybe",
              "str": [1, 2], "str_or_none": [1, 2], "bool_or_str": [1, 2], "numbers": "abc",
              "float_or_numbers": "abc", "erase_value": "abc"}


def _bad_values(option):
    """(what, value) cases that must be refused: a wrong type, a list of the wrong length, a value out of range,
    a choice that does not exist, a range given high to low."""
    cases = [("type", WRONG_TYPE[option.kind])]
    if option.items:
        fewest, most = option.items
        cases.append(("length", [0.5] * (most + 1) if most < 100 else []))
        if option.ordered and most >= 2:
            cases.append(("order", [0.5, 0.25]))
    if option.bounds:
        low, high = option.bounds
        outside = low - 1 if low is not None else high + 1
        outside = int(outside) if option.kind.startswith("int") else outside
        if option.items:
            outside = [outside] * option.items[0]
        cases.append(("range", outside))
    if option.choices:
        cases.append(("choice", max(option.choices) + 1 if option.kind == "int" else "no_such_choice"))
    return cases


CASES = [(option.name, what, value) for option in OPTIONS for what, value in _bad_values(option)]


def test_every_option_has_a_refused_value_besides_its_type():
    checked = {name for name, what, _ in CASES if what != "type"}
    free_text = {o.name for o in OPTIONS if o.kind in ("str", "str_or_none", "bool_or_str", "bool")} - checked
    assert {o.name for o in OPTIONS} == checked | free_text
    assert free_text == {"distribute", "val_while_train", "dataset", "data_dir", "train_split", "val_split",
                         "dataset_download", "python_multiprocessing", "shuffle", "drop_remainder", "interpolation",
                         "auto_augment", "model", "pretrained", "ckpt_path", "resume_opt", "ckpt_save_dir",
                         "overwrite", "dataset_sink_mode", "ema", "clip_grad", "use_nesterov", "lr_epoch_stair",
                         "amp_cast_list", "drop_overflow_update", "eval_shuffle", "export_dir", "calibrate",
                         "calibration_dir",
                         "freeze_bn", "tensorboard", "mlflow", "mlflow_tracking_uri", "mlflow_experiment"}


@pytest.mark.parametrize("name, what, value", CASES, ids=[f"{n}-{w}" for n, w, _ in CASES])
def test_each_bad_value_is_one_line_naming_the_option_and_writes_nothing(name, what, value, tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text(yaml.safe_dump({name: value}))
    assert train.main(["-c", "c.yaml", "--device_target", "CPU"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and f"'{name}'" in errors[0], errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


@pytest.mark.parametrize("argv, message", [
    (["--mean", "[1, 2]"], "'mean' has 2 values but in_channels is 3"),
    (["--std", "[58, 57, 0]"], "'std' .* values must be between 1e-06 and 255.0"),
    (["--re_value", "[0, 0]"], "'re_value' has 2 values but in_channels is 3"),
    (["--in_channels", "1", "--mean", "[1, 2, 3]"], "'mean' has 3 values but in_channels is 1"),
    (["--scale", "[1.0, 0.08]"], "'scale' .* must be in increasing order"),
    (["--seed", "-1"], "'seed' .* must be between 0 and 4294967295"),
])
def test_values_that_used_to_fail_in_graph_compilation_or_train_silently(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(argv)
    assert parse_config(["--in_channels", "1", "--mean", "[127]", "--std", "[64]"]).mean == [127]


def test_a_key_set_twice_names_both_lines(tmp_path):
    config_file = tmp_path / "twice.yaml"
    config_file.write_text("lr: 0.1\nbatch_size: 32\nlr: 0.2\n")
    with pytest.raises(ConfigError, match=r"twice.yaml sets 'lr' twice \(lines 1 and 3\); keep one"):
        parse_config(["-c", str(config_file)])


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


def test_a_saved_config_is_read_through_the_options_table():
    """A run's saved options (a checkpoint's copy) are checked like a config file: a renamed or unknown key is an
    error naming where it was saved, never a silent default; options the run did not save take their defaults;
    checks for starting a run (an installed MLflow) do not apply to reading one."""
    origin = "the options saved in run/best.ckpt"
    saved = parse_saved_config("image_resize: 96\nmean: [1, 2, 3]\nmlflow: true\n", origin)
    assert (saved.image_resize, saved.mean, saved.mlflow) == (96, [1.0, 2.0, 3.0], True)
    assert saved.crop_pct == next(o.default for o in OPTIONS if o.name == "crop_pct")
    with pytest.raises(ConfigError, match="Unknown option 'image_size' in the options saved in run/best.ckpt"):
        parse_saved_config("image_size: 96\n", origin)
    with pytest.raises(ConfigError, match="'crop_pct' in the options saved in run/best.ckpt"):
        parse_saved_config("crop_pct: -1\n", origin)
    with pytest.raises(ConfigError, match="sets 'lr' twice"):
        parse_saved_config("lr: 1\nlr: 2\n", origin)


def test_a_saved_run_tells_the_preprocessing_validation_used_and_the_data():
    text = ("image_resize: 96\ncrop_pct: 0.9\ninterpolation: bicubic\nmean: [1, 2, 3]\nstd: [4, 5, 6]\n"
            "in_channels: 1\ndataset: fashion_mnist\ntrain_split: tr\nval_split: va\n")
    expected = Preprocessing(96, 0.9, "bicubic", (1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    assert evaluation_preprocessing(parse_saved_config(text, "a test")) == expected
    assert read_saved_run(text, "a test") == SavedRun(1, expected, "fashion_mnist", "tr", "va")
    with pytest.raises(ConfigError, match="Unknown option 'image_size' in a test"):
        read_saved_run("image_size: 96\n", "a test")


@pytest.mark.parametrize("extra, message", [
    (["--ckpt_save_policy", "top_k", "--val_while_train", "False"], "top_k ranks checkpoints by validation top-1"),
    (["--resume_opt", "True"], "resume_opt True needs --ckpt_path"),
    (["--image_resize", "64"], "below xception's minimum input of 71 pixels"),
    (["--dataset", "cifar10"], "read image folders (imagenet, imagefolder) and fashion_mnist, not 'cifar10'"),
    (["--precision", "int8", "--calibration_dir", "d"], "'precision' int8 needs --backend openvino"),
    (["--backend", "openvino", "--precision", "int8"], "'precision' int8 and 'calibration_dir' go together"),
    (["--backend", "openvino", "--calibration_dir", "d"], "'precision' int8 and 'calibration_dir' go together"),
])
def test_print_config_refuses_the_combinations_a_run_refuses(extra, message, capsys):
    """Every check on options alone lives in the options module: --print_config stops where train.py would."""
    assert train.main(["--model", "xception", "--print_config", *extra]) == 2
    assert message in capsys.readouterr().err


def test_resolved_options_are_printed_instead_with_print_config(capsys):
    assert resolve_options(["--lr", "0.3", "--print_config"], "x") is None
    assert "\nlr: 0.3\n" in capsys.readouterr().out
    assert resolve_options(["--lr", "0.3"], "x").lr == 0.3 and capsys.readouterr().out == ""
