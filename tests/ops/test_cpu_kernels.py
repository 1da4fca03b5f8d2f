"""mindcv's CPU kernels against MindSpore's own depthwise and pointwise convolutions, max-pool and BatchNorm:
values and gradients."""
import logging

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from mindcv.engine.amp import auto_mixed_precision
from mindcv.models import create_model
from mindcv.models.layers import BatchNorm2d, CpuKernelLayer, DepthwiseConv2d, MaxPool3x3S2, PointwiseConv2d
from mindcv.ops import cpu_kernels, cpu_kernels_enabled, kernel_library


class Probe(nn.Cell):
    """``sum(layer(x) * weights)``: its gradients are ``layer``'s backward pass for a random upstream gradient."""

    def __init__(self, layer: nn.Cell, upstream: np.ndarray):
        super().__init__()
        self.layer = layer
        self.upstream = ms.Tensor(upstream)

    def construct(self, x):
        return (self.layer(x) * self.upstream).sum()


def _value_and_grads(layer: nn.Cell, x: np.ndarray, upstream: np.ndarray):
    probe = Probe(layer, upstream)
    params = probe.trainable_params()
    grad_fn = ms.value_and_grad(probe, grad_position=0, weights=params or None)
    _, grads = grad_fn(ms.Tensor(x))
    out = layer(ms.Tensor(x)).asnumpy()
    if params:
        return out, grads[0].asnumpy(), grads[1][0].asnumpy()
    return out, grads.asnumpy(), None


@pytest.fixture(params=[ms.PYNATIVE_MODE, pytest.param(ms.GRAPH_MODE, marks=pytest.mark.slow)],
                ids=["pynative", "graph"])  # graph mode compiles every case: in CI, not in the quick loop
def mode(request):
    ms.set_context(mode=request.param)
    yield request.param
    ms.set_context(mode=ms.PYNATIVE_MODE)


# (3, 300, 5, 5) and (2, 20, 3, 4): small maps, channels-last path with a partial last block of channels
@pytest.mark.parametrize("shape", [(2, 5, 9, 7), (1, 3, 1, 6), (2, 4, 2, 1), (3, 16, 19, 19), (3, 300, 5, 5),
                                   (2, 20, 3, 4)])
def test_depthwise_matches_mindspore(mode, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape).astype(np.float32)
    upstream = rng.normal(size=shape).astype(np.float32)
    ours, reference = DepthwiseConv2d(shape[1], use_cpu_kernels=True), DepthwiseConv2d(shape[1])
    assert ours.fast_op is not None and reference.fast_op is None
    ours.weight.set_data(reference.weight.data.copy())
    got, expected = _value_and_grads(ours, x, upstream), _value_and_grads(reference, x, upstream)
    for a, b, what in zip(got, expected, ("output", "input gradient", "weight gradient")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max(), err_msg=what)


def test_strided_depthwise_keeps_mindspore_op():
    assert DepthwiseConv2d(8, stride=2, use_cpu_kernels=True).fast_op is None


# maps under 256 pixels: images side by side in one product (channel counts not multiples of 16); from 256 on:
# one product per image, or rows split over the threads for a single image
@pytest.mark.parametrize("shape, out_channels", [((3, 20, 5, 5), 37), ((2, 64, 3, 4), 8), ((1, 7, 1, 1), 5),
                                                 ((2, 12, 17, 17), 24), ((1, 40, 16, 17), 33), ((3, 5, 23, 19), 6)])
def test_pointwise_matches_mindspore(mode, shape, out_channels):
    rng = np.random.default_rng(sum(shape) + out_channels)
    x = rng.normal(size=shape).astype(np.float32)
    upstream = rng.normal(size=(shape[0], out_channels) + shape[2:]).astype(np.float32)
    ours, reference = PointwiseConv2d(shape[1], out_channels, True), PointwiseConv2d(shape[1], out_channels)
    assert ours.fast_op is not None and reference.fast_op is None
    ours.weight.set_data(ms.Tensor(rng.normal(size=ours.weight.shape).astype(np.float32)))
    reference.weight.set_data(ours.weight.data.copy())
    got, expected = _value_and_grads(ours, x, upstream), _value_and_grads(reference, x, upstream)
    for a, b, what in zip(got, expected, ("output", "input gradient", "weight gradient")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max(), err_msg=what)


def _bf16(values: np.ndarray) -> np.ndarray:
    """float32 -> the nearest bf16 (ties to even), as float64."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


@pytest.mark.parametrize("shape, out_channels", [((3, 20, 5, 5), 37), ((1, 40, 16, 17), 33), ((2, 12, 17, 17), 24)])
def test_pointwise_bf16_products_are_bf16_inputs_with_float32_accumulation(mode, shape, out_channels):
    """The bf16 kernel's output and both gradients equal products of the bf16-rounded operands accumulated in
    float32 (against float64 sums), and stay within the bf16 rounding bound of the float32 products."""
    rng = np.random.default_rng(sum(shape) + out_channels)
    x = rng.normal(size=shape).astype(np.float32)
    upstream = rng.normal(size=(shape[0], out_channels) + shape[2:]).astype(np.float32)
    layer = PointwiseConv2d(shape[1], out_channels, True)
    layer.weight.set_data(ms.Tensor(rng.normal(size=layer.weight.shape).astype(np.float32)))
    layer.set_kernel_precision("bf16")
    weight = layer.weight.asnumpy()[:, :, 0, 0]
    out, dx, dw = _value_and_grads(layer, x, upstream)
    products = {  # (value, of the bf16-rounded operands, of the exact operands, of their magnitudes)
        "output": (out, lambda f: np.einsum("oc,nchw->nohw", f(weight), f(x))),
        "input gradient": (dx, lambda f: np.einsum("oc,nohw->nchw", f(weight), f(upstream))),
        "weight gradient": (dw[:, :, 0, 0], lambda f: np.einsum("nohw,nchw->oc", f(upstream), f(x))),
    }
    for what, (got, product) in products.items():
        rounded, exact = product(_bf16), product(lambda a: a.astype(np.float64))
        magnitude = product(lambda a: np.abs(a.astype(np.float64)))
        np.testing.assert_allclose(got, rounded, rtol=0, atol=1e-5 * np.abs(rounded).max(), err_msg=what)
        assert np.all(np.abs(got - exact) <= 2.0 ** -7 * magnitude + 1e-5), what  # two roundings of 2^-9 each
        assert np.abs(got - exact).max() > 1e-4 * np.abs(exact).max(), what  # really bf16, not float32


@pytest.mark.slow
def test_pointwise_keeps_mindspore_op_without_onednn(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_kernels, "onednn_library", lambda: None)
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    kernel_library.cache_clear()  # the library built here has no pointwise kernel: no later test may get it
    try:
        assert not cpu_kernels.pointwise_conv_available()
        assert PointwiseConv2d(4, 8, use_cpu_kernels=True).fast_op is None
        assert "pointwise_conv.cc" not in " ".join(cpu_kernels._build_command("g++", cpu_kernels.Path("out")))
    finally:
        kernel_library.cache_clear()


@pytest.mark.parametrize("padding", ["same", "symmetric"])
# maps up to 20x20 take the per-pixel path, larger ones the per-row path (odd and even widths: both paddings' offsets)
@pytest.mark.parametrize("shape", [(2, 3, 9, 9), (1, 2, 8, 11), (2, 2, 1, 4), (1, 4, 37, 37), (2, 3, 22, 24)])
def test_max_pool_matches_mindspore_including_ties(mode, padding, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, 3, size=shape).astype(np.float32)  # many ties inside each window
    ours, reference = MaxPool3x3S2(padding, use_cpu_kernels=True), MaxPool3x3S2(padding)
    out_shape = reference(ms.Tensor(x)).shape
    upstream = rng.normal(size=out_shape).astype(np.float32)
    got, expected = _value_and_grads(ours, x, upstream), _value_and_grads(reference, x, upstream)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 5, 5), (4, 16, 9, 7), (3, 8, 1, 1), (2, 4, 37, 37)])
def test_batch_norm_matches_mindspore_in_training_and_evaluation(mode, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(1.5, 2.0, size=shape).astype(np.float32)  # off-centre: the mean matters
    upstream = rng.normal(size=shape).astype(np.float32)
    state = [rng.normal(1.0, 0.3, shape[1]), rng.normal(0.0, 0.3, shape[1]), rng.normal(size=shape[1]),
             rng.uniform(0.5, 2.0, shape[1])]  # gamma, beta, moving mean, moving variance
    results = []
    for fast in (True, False):
        layer = BatchNorm2d(shape[1], eps=1e-3, momentum=0.8, use_cpu_kernels=fast)
        assert (layer.fast_op is not None) is fast and (layer.fast_eval_op is not None) is fast
        for param, value in zip((layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance), state):
            param.set_data(ms.Tensor(value.astype(np.float32)))
        layer.set_train(True)
        probe = Probe(layer, upstream)
        _, (dx, (dgamma, dbeta)) = ms.value_and_grad(probe, grad_position=0, weights=probe.trainable_params())(
            ms.Tensor(x))
        results.append([dx.asnumpy(), dgamma.asnumpy(), dbeta.asnumpy(), layer.moving_mean.asnumpy(),
                        layer.moving_variance.asnumpy(), layer(ms.Tensor(x)).asnumpy()])
        layer.set_train(False)  # evaluation: the moving statistics; gradients as when fine-tuning with frozen BN
        probe = Probe(layer, upstream)
        _, (dx, (dgamma, dbeta)) = ms.value_and_grad(probe, grad_position=0, weights=probe.trainable_params())(
            ms.Tensor(x))
        results[-1] += [layer(ms.Tensor(x)).asnumpy(), dx.asnumpy(), dgamma.asnumpy(), dbeta.asnumpy()]
    names = ("input gradient", "gamma gradient", "beta gradient", "moving mean", "moving variance (unbiased)",
             "training output", "evaluation output", "evaluation input gradient", "evaluation gamma gradient",
             "evaluation beta gradient")
    for got, expected, what in zip(*results, names):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-5 * np.abs(expected).max(), err_msg=what)


def test_switch_turns_kernels_off(monkeypatch):
    monkeypatch.setenv("MINDCV_CPU_KERNELS", "0")
    assert not cpu_kernels_enabled()
    monkeypatch.setenv("MINDCV_CPU_KERNELS", "1")
    assert cpu_kernels_enabled()


def test_missing_compiler_falls_back_with_a_warning(monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mindcv")
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    kernel_library.cache_clear()
    try:
        assert kernel_library() is None
        assert not cpu_kernels_enabled()
    finally:
        kernel_library.cache_clear()
    assert "using MindSpore's CPU operators instead" in caplog.text


@pytest.mark.slow
def test_library_is_cached_by_source_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    kernel_library.cache_clear()
    try:
        path = kernel_library()
    finally:
        kernel_library.cache_clear()
    assert path and path.startswith(str(tmp_path / "kernels" / "xception_cpu-")) and path.endswith(".so")
    assert not list((tmp_path / "kernels").glob(".xception_cpu-*.so.*"))  # no partial build left behind
    assert all(source.is_file() for source in cpu_kernels.SOURCES)


def test_half_precision_inputs_are_computed_in_float32():
    x = np.random.default_rng(1).normal(size=(1, 4, 9, 9)).astype(np.float16)
    for conv, reference in ((DepthwiseConv2d(4, use_cpu_kernels=True), DepthwiseConv2d(4)),
                            (PointwiseConv2d(4, 6, True), PointwiseConv2d(4, 6))):
        reference.weight.set_data(conv.weight.data.copy())
        out = conv(ms.Tensor(x))
        assert out.dtype == ms.float16
        expected = reference(ms.Tensor(x.astype(np.float32))).asnumpy()
        np.testing.assert_allclose(out.asnumpy().astype(np.float32), expected, atol=2e-2)
    pool = MaxPool3x3S2("same", use_cpu_kernels=True)
    assert pool(ms.Tensor(x)).dtype == ms.float16


def _four_layers(fast: bool):
    return [DepthwiseConv2d(8, use_cpu_kernels=fast), PointwiseConv2d(8, 8, fast), MaxPool3x3S2("same", fast),
            BatchNorm2d(8, use_cpu_kernels=fast)]


@pytest.mark.parametrize("amp_level", ["O2", "O3"])
def test_layers_under_half_precision_run_mindspore_operators_as_mindcv(mode, amp_level):
    """amp O2/O3 flag the layers float16 (O2 keeps BatchNorm float32): they run MindSpore's operator in float16,
    as MindCV's model does, in both modes. In PyNative mode MindSpore hands a flagged Custom op float16 tensors,
    which the float32 kernels cannot read (NaN, or a crash)."""
    rng = np.random.default_rng(3)
    x = ms.Tensor(rng.normal(size=(2, 8, 12, 12)).astype(np.float32))
    outputs = []
    for fast in (True, False):
        layers = _four_layers(fast)
        for layer in layers:
            for param in layer.trainable_params():
                param.set_data(ms.Tensor(np.random.default_rng(4).normal(size=param.shape).astype(np.float32)))
        network = auto_mixed_precision(nn.SequentialCell(layers), amp_level)
        network.set_train(True)
        kernels = [layer.fast_op is not None for layer in layers]
        outputs.append(network(x).astype(ms.float32).asnumpy())
        assert kernels == ([False, False, False, amp_level == "O2"] if fast else [False] * 4)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=2e-3, atol=2e-3 * np.abs(outputs[1]).max())
    assert np.isfinite(outputs[0]).all()


def test_float32_flag_and_the_model_switch_bring_the_kernels_back():
    layers = _four_layers(True)
    for layer in layers:
        layer.to_float(ms.float16)
        assert layer.fast_op is None
        layer.to_float(ms.float32)
        assert layer.fast_op is not None
    model = create_model("xception", num_classes=2, use_cpu_kernels=True)
    kernel_layers = [cell for _, cell in model.cells_and_names() if isinstance(cell, CpuKernelLayer)]
    running = sum(cell.fast_op is not None for cell in kernel_layers)
    assert running > 60
    assert model.set_cpu_kernels(False) is True and all(cell.fast_op is None for cell in kernel_layers)
    assert model.set_cpu_kernels(True) is False
    assert sum(cell.fast_op is not None for cell in kernel_layers) == running


@pytest.mark.parametrize("flags, bf16, amx", [("fpu avx2", False, False), ("avx2 avx512f avx512_bf16", True, False),
                                              ("avx512_bf16 amx_tile amx_bf16", True, True)])
def test_bf16_and_amx_are_read_from_the_cpu_flags(monkeypatch, flags, bf16, amx):
    monkeypatch.setattr(cpu_kernels, "_cpuinfo_lines", lambda: ["model name\t: a CPU", f"flags\t\t: {flags}"])
    assert (cpu_kernels.cpu_has_bf16(), cpu_kernels.cpu_has_amx()) == (bf16, amx)
