"""Optimizers: MindCV's parameter trajectories for every optimizer x weight-decay filter (plus Nesterov, a fixed
loss scale, layer decay, constant lr) on fixed gradients, and the filters' closed forms."""
import mindspore as ms
import numpy as np
import pytest

from mindcv.optim import create_optimizer, param_groups
from mindcv.optim.optim_factory import layer_ids
from mindcv.utils.errors import ConfigError
from tests import golden_cases as cases

GOLDEN = cases.load_fixture()["optimizers"]
# MindCV's Adan ignores parameter-group weight decay (no decay with the disable / norm_and_bias filters, all
# parameters with auto); here every optimizer decays by its groups (docs: Differences from MindCV).
ADAN_GROUP_DECAY = "adan"


def _net():
    net = cases.TinyNet()
    for param in net.trainable_params():
        param.set_data(ms.Tensor(cases.tiny_initial_values()[param.name]))
    return net


def _trajectory(case, **override):
    return cases.run_optimizer_case(case, create_optimizer, **override)


def _assert_trajectory(got, expected):
    for step_got, step_expected in zip(got, expected):
        for name, values in step_expected.items():
            np.testing.assert_allclose(step_got[name], values, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("row", GOLDEN, ids=[str({k: v for k, v in r["case"].items() if v != cases._OPT_BASE.get(k)})
                                             for r in GOLDEN])
def test_same_updates_as_mindcv(row):
    case, expected = row["case"], row["result"]
    if isinstance(expected, dict):  # MindCV refuses: Lamb has no CPU kernel (so here too), layer decay crashes
        if case["opt"] == "lamb":
            with pytest.raises(ConfigError, match="no CPU kernel"):
                _trajectory(case)
        else:
            assert case["layer_decay"] is not None and len(_trajectory(case)) == cases.OPT_STEPS
        return
    if case["opt"] == ADAN_GROUP_DECAY and case["weight_decay_filter"] != "auto":
        _assert_trajectory(_trajectory(case, weight_decay=0.0), expected)  # what MindCV computes: no decay
        return
    if case["opt"] == ADAN_GROUP_DECAY:  # auto: MindCV's Adan also decays the BN parameters that the filter exempts
        decayed = [{k: v for k, v in step.items() if not k.startswith("bn.")} for step in expected]
        _assert_trajectory(_trajectory(case), decayed)
        return
    _assert_trajectory(_trajectory(case), expected)


def test_adan_decays_by_group():
    """p_new = (p - step) / (1 + wd * lr_t): with zero gradients after the first, decay alone shrinks p."""
    base = dict(cases._OPT_BASE, opt="adan", weight_decay_filter="norm_and_bias")
    plain, decayed = _trajectory(base, weight_decay=0.0)[0], _trajectory(base)[0]
    assert np.array_equal(plain["bn.gamma"], decayed["bn.gamma"]) and np.array_equal(plain["dense.bias"],
                                                                                     decayed["dense.bias"])
    assert np.abs(decayed["conv.weight"]).sum() < np.abs(plain["conv.weight"]).sum()


@pytest.mark.parametrize("filter_name, exempt", [
    ("disable", set()), ("auto", {"bn.gamma", "bn.beta"}), ("norm_and_bias", {"bn.gamma", "bn.beta", "dense.bias"}),
])
def test_weight_decay_filters(filter_name, exempt):
    """Zero gradients with SGD: only weight decay moves a parameter."""
    net = _net()
    before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
    optimizer = create_optimizer(net, "sgd", lr=0.1, momentum=0.0, weight_decay=0.5, weight_decay_filter=filter_name)
    optimizer(tuple(ms.Tensor(np.zeros(p.shape, np.float32)) for p in net.trainable_params()))
    for param in net.trainable_params():
        expected = before[param.name] if param.name in exempt else before[param.name] * (1 - 0.1 * 0.5)
        np.testing.assert_allclose(param.asnumpy(), expected, rtol=1e-6, err_msg=param.name)


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam", "adamw", "lion", "rmsprop", "adan"])
def test_a_fixed_loss_scale_in_the_optimizer_is_divided_out(opt):
    """Gradients carrying a scale S, with loss_scale=S, update exactly as unscaled gradients do (decay included)."""
    case = dict(cases._OPT_BASE, opt=opt, weight_decay_filter="norm_and_bias")
    scaled, plain = _trajectory(case, loss_scale=8.0), _trajectory(case)
    _assert_trajectory(scaled, plain)


def test_layer_decay_scales_learning_rates_by_depth():
    model = cases.TinyNet()
    ids = layer_ids(model)
    groups, decay = param_groups(model, [1.0, 1.0], 0.1, "disable", 0.5)
    lrs = {p.name: g["lr"][0] for g in groups if "params" in g for p in g["params"]}
    deepest = max(ids.values())
    assert decay == 0.0 and lrs["dense.weight"] == 1.0
    assert lrs["conv.weight"] == pytest.approx(0.5 ** (deepest - ids["conv.weight"]))
    assert {p.name for g in groups if g.get("weight_decay") == 0.0 for p in g["params"]} == \
        {"bn.gamma", "bn.beta", "dense.bias"}


def test_unknown_optimizer_and_filter():
    with pytest.raises(ConfigError, match="Did you mean: adamw"):
        create_optimizer(_net(), "adamW2")
    with pytest.raises(ConfigError, match="weight_decay_filter must be one of"):
        create_optimizer(_net(), "sgd", weight_decay_filter="bn")


@pytest.mark.parametrize("name, stem, last_block", [("xception", "bn2.gamma", 12),
                                                    ("xception41", "stem.1.bn.beta", 13)])
def test_layer_depths_come_from_the_models_group_matcher(name, stem, last_block):
    from mindcv.models import create_model

    model = create_model(name, num_classes=3)
    ids = layer_ids(model)
    assert ids[stem] == 0 and ids["blocks.0.rep.0.pointwise.weight" if name == "xception" else
                                  "blocks.0.stack.conv1.conv_dw.weight"] == 1
    assert max(layer for key, layer in ids.items() if key.startswith("blocks.")) == last_block
    assert ids["classifier.weight"] == ids["classifier.bias"] == max(ids.values())
    if name == "xception":  # the exit convolutions sit between the last block and the classifier
        assert ids["conv4.pointwise.weight"] == last_block + 1 == ids["classifier.weight"] - 1
