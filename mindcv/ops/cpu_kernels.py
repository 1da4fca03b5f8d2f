"""MindSpore AOT custom operators for Xception on CPU: 3x3 depthwise convolution, 3x3/2 max-pool,
BatchNorm (training and evaluation) and the pointwise (1x1) convolution.

MindSpore 2.7's CPU backend runs a depthwise convolution as one small GEMM per channel, computes a max-pool
gradient by re-running the pooling, spends ~1 ms per BatchNorm (forward or gradient) even on 5x5 maps, and runs
1x1 convolutions and their gradients at 95-145 GFLOP/s on 2 cores. Measured per layer shape of Xception (71 to
299 px), our kernels run the depthwise forward and backward 2-9x faster, training steps with our BatchNorm
7-10% faster, and the pointwise convolutions (matrix products in oneDNN's sgemm, from the ``libdnnl.so.2``
MindSpore ships) 1.2-2.4x faster (equal on 10x10 maps). One source file per operator family:
``csrc/depthwise_conv.cc`` (maps of 5x5 and less are worked on channels-last), ``csrc/max_pool.cc`` (the pool keeps
its argmax for the backward pass), ``csrc/batch_norm.cc`` (in evaluation one ``x * scale + shift`` pass, 1.7-4.9x
faster than MindSpore's CPU operator per layer) and ``csrc/pointwise_conv.cc``. They are compiled with the system
C++ compiler on first use into the mindcv cache, keyed by the sources, the build command and the CPU, and loaded
through ``mindspore.ops.Custom(func_type="aot")`` with Python ``bprop``s. Results equal MindSpore's own operators up to
float rounding (the summation order differs); parameter names and checkpoints are unchanged. Work is split
over a thread pool whose idle threads sleep (``csrc/thread_pool.h``): OpenMP's spinning threads slowed the
MindSpore operators that ran after them.

Used only when MindSpore runs on CPU and ``MINDCV_CPU_KERNELS`` is not ``0``; if no compiler is available
the model falls back to MindSpore's operators and says so once.
"""
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import List, Optional

import mindspore as ms
from mindspore import ops

from ..utils.download import get_cache_dir
from ..utils.errors import FileWriteError
from ..utils.fileio import atomic_path, file_lock

__all__ = ["kernel_library", "cpu_kernels_enabled", "depthwise_conv3x3_op", "max_pool3x3s2_op", "batch_norm_train_op",
           "batch_norm_eval_op", "pointwise_conv_op", "pointwise_conv_available", "onednn_library", "cpu_has_bf16",
           "cpu_has_amx", "BF16_FLAGS"]

_logger = logging.getLogger(__name__)
CSRC = Path(__file__).parent / "csrc"
# The first three need nothing but the compiler; the pointwise kernel links MindSpore's oneDNN.
SOURCES = (CSRC / "depthwise_conv.cc", CSRC / "max_pool.cc", CSRC / "batch_norm.cc", CSRC / "pointwise_conv.cc")
STANDALONE_SOURCES = SOURCES[:3]
FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-pthread", "-shared", "-fPIC", "-std=c++14"]
LIBRARY_NAME = "xception_cpu"
ENV_SWITCH = "MINDCV_CPU_KERNELS"


def _cpuinfo_lines() -> List[str]:
    """The lines of /proc/cpuinfo (none where it cannot be read)."""
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def _cpu_signature() -> str:
    wanted = [line for line in _cpuinfo_lines() if line.startswith(("model name", "flags"))][:2]
    return platform.machine() + "\n".join(wanted)


class _BuildFailed(Exception):
    """The compiler exited with an error (its message is the compiler's output)."""


def onednn_library() -> Optional[Path]:
    """MindSpore's own oneDNN (``mindspore/lib/libdnnl.so.2``), whose sgemm the pointwise kernel calls."""
    path = Path(ms.__file__).parent / "lib" / "libdnnl.so.2"
    return path if path.is_file() else None


def _build_command(compiler: str, output: Path) -> List[str]:
    onednn = onednn_library()
    if onednn is None:
        return [compiler, *FLAGS, *map(str, STANDALONE_SOURCES), "-o", str(output)]
    return [compiler, *FLAGS, "-DMINDCV_WITH_ONEDNN", *map(str, SOURCES), "-o", str(output),
            f"-L{onednn.parent}", f"-l:{onednn.name}", f"-Wl,-rpath,{onednn.parent}"]


@lru_cache(maxsize=None)
def kernel_library() -> Optional[str]:
    """Path of the compiled kernel library (built on first use), or None when it cannot be built."""
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not compiler:
        _logger.warning("No C++ compiler found (g++/c++, or $CXX): using MindSpore's CPU operators, which train "
                        "Xception ~2x slower. Install g++ to enable mindcv's CPU kernels.")
        return None
    content = b"".join(path.read_bytes() for path in (*SOURCES, CSRC / "thread_pool.h"))
    command = " ".join(_build_command(compiler, Path("out")))
    key = hashlib.sha256(content + command.encode() + _cpu_signature().encode()).hexdigest()[:16]
    directory = get_cache_dir() / "kernels"
    library = directory / f"{LIBRARY_NAME}-{key}.so"
    try:
        with file_lock(directory / f".{LIBRARY_NAME}-{key}.lock"):
            if not library.exists():
                with atomic_path(library) as partial:
                    done = subprocess.run(_build_command(compiler, partial), capture_output=True, text=True)
                    if done.returncode != 0:
                        raise _BuildFailed(done.stderr.strip()[-2000:])
                _logger.info("Compiled the CPU kernels into %s.", library)
    except (_BuildFailed, FileWriteError, OSError) as exc:
        _logger.warning("Compiling the CPU kernels (%s) with %s failed; using MindSpore's CPU operators "
                        "instead:\n%s", ", ".join(path.name for path in SOURCES), compiler, exc)
        return None
    return str(library)


def cpu_kernels_enabled() -> bool:
    """True when models should use these kernels: MindSpore on CPU, switch not off, library built."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    if ms.get_context("device_target") != "CPU":
        return False
    return kernel_library() is not None


def _custom(function: str, out_shape, out_dtype, bprop=None) -> ops.Custom:
    return ops.Custom(f"{kernel_library()}:{function}", out_shape=out_shape, out_dtype=out_dtype,
                      func_type="aot", bprop=bprop)


@lru_cache(maxsize=None)
def depthwise_conv3x3_op() -> ops.Custom:
    """``op(x, weight)``: depthwise 3x3 convolution, stride 1, zero padding 1, with its gradients."""
    grad_input = _custom("DepthwiseConv3x3GradInput", lambda dy, w: dy, lambda dy, w: dy)
    grad_filter = _custom("DepthwiseConv3x3GradFilter", lambda x, dy: [x[1], 1, 3, 3], lambda x, dy: x)

    def bprop(x, weight, out, dout):
        return grad_input(dout, weight), grad_filter(x, dout)

    return _custom("DepthwiseConv3x3", lambda x, w: x, lambda x, w: x, bprop)


def _pooled(shape):
    return [shape[0], shape[1], (shape[2] + 1) // 2, (shape[3] + 1) // 2]


@lru_cache(maxsize=None)
def max_pool3x3s2_op(padding: str) -> ops.Custom:
    """``op(x) -> (y, argmax)``: 3x3 max-pool, stride 2, ``"same"`` (TensorFlow) or ``"symmetric"`` padding."""
    grad = _custom("MaxPool3x3S2Grad", lambda x, argmax, dy: x, lambda x, argmax, dy: x)

    def bprop(x, out, dout):
        return (grad(x, out[1], dout[0]),)

    function = "MaxPool3x3S2Same" if padding == "same" else "MaxPool3x3S2Symmetric"
    return _custom(function, lambda x: (_pooled(x), _pooled(x)), lambda x: (x, ms.int32), bprop)


@lru_cache(maxsize=None)
def batch_norm_train_op() -> ops.Custom:
    """``op(x, gamma, beta, eps) -> (y, mean, unbiased var, invstd)``: training-mode batch normalisation over
    (N, C, H, W) with batch statistics; its gradient covers x, gamma and beta (eps is a constant)."""
    grad = _custom("BatchNormTrainGrad", lambda dy, x, *rest: (dy, [x[1]], [x[1]]), lambda dy, *rest: (dy, dy, dy))

    def bprop(x, gamma, beta, eps, out, dout):
        dx, dgamma, dbeta = grad(dout[0], x, gamma, out[1], out[3])
        return dx, dgamma, dbeta, ops.zeros_like(eps)

    return _custom("BatchNormTrain", lambda x, *rest: (x, [x[1]], [x[1]], [x[1]]), lambda x, *rest: (x, x, x, x),
                   bprop)


@lru_cache(maxsize=None)
def batch_norm_eval_op() -> ops.Custom:
    """``op(x, gamma, beta, mean, var, eps) -> y``: evaluation-mode batch normalisation with the given (moving)
    statistics; its gradient covers x, gamma and beta (frozen-BN fine-tuning), the statistics get zeros."""
    def bprop(x, gamma, beta, mean, var, eps, out, dout):
        invstd = ops.rsqrt(var + eps).reshape(1, -1, 1, 1)
        dx = dout * (gamma.reshape(1, -1, 1, 1) * invstd)
        dgamma = (dout * ((x - mean.reshape(1, -1, 1, 1)) * invstd)).sum(axis=(0, 2, 3))
        return dx, dgamma, dout.sum(axis=(0, 2, 3)), ops.zeros_like(mean), ops.zeros_like(var), ops.zeros_like(eps)

    return _custom("BatchNormEval", lambda x, *rest: x, lambda x, *rest: x, bprop)


def pointwise_conv_available() -> bool:
    """True when the kernel library holds the pointwise convolution (MindSpore ships oneDNN)."""
    return cpu_kernels_enabled() and onednn_library() is not None


@lru_cache(maxsize=None)
def pointwise_conv_op(precision: str = "fp32") -> ops.Custom:
    """``op(x, weight)``: 1x1 convolution, stride 1, no bias, with its gradients (oneDNN products). ``precision``
    ``"bf16"``: the three products take x, dy and the weight rounded to bf16 and accumulate in float32 (tensors
    stay float32)."""
    suffix = {"fp32": "", "bf16": "Bf16"}[precision]
    grad_input = _custom(f"PointwiseConvGradInput{suffix}", lambda dy, w: [dy[0], w[1], dy[2], dy[3]],
                         lambda dy, w: dy)
    grad_filter = _custom(f"PointwiseConvGradFilter{suffix}", lambda x, dy: [dy[1], x[1], 1, 1], lambda x, dy: x)

    def bprop(x, weight, out, dout):
        return grad_input(dout, weight), grad_filter(x, dout)

    return _custom(f"PointwiseConv{suffix}", lambda x, w: [x[0], w[0], x[2], x[3]], lambda x, w: x, bprop)


BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpu_flags() -> List[str]:
    return next((line.split(":", 1)[1].split() for line in _cpuinfo_lines() if line.startswith("flags")), [])


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 products in hardware (AVX512-BF16 or AMX-BF16, from /proc/cpuinfo)."""
    return any(flag in _cpu_flags() for flag in BF16_FLAGS)


def cpu_has_amx() -> bool:
    """True when the CPU has AMX tiles for bf16 (``amx_bf16`` in /proc/cpuinfo)."""
    return "amx_bf16" in _cpu_flags()
