"""What the benchmarks report about the machine they ran on."""
import platform
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (the architecture elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_flags() -> list:
    """Which of the vector and matrix extensions that decide fp32/bf16 speed (AVX-512, AVX512-BF16, AMX) the CPU
    reports in /proc/cpuinfo."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in VECTOR_FLAGS if flag in present]
    return []


def _best_seconds(step, repeats: int = 5) -> float:
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def sgemm_gflops(n: int = 2048) -> float:
    """The machine's SGEMM rate now (numpy/OpenBLAS, n^3, all cores): the fp32 roofline rows are held to."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return 2 * n ** 3 / _best_seconds(lambda: a @ a) / 1e9


def openvino_gemm_gflops(precision: str, n: int = 2048) -> float:
    """OpenVINO's (oneDNN's) n^3 MatMul rate at ``precision``: ``bf16`` (AMX or AVX512-BF16 where the CPU has them)
    or ``int8`` (both inputs quantized, u8 x s8 with int32 accumulation: VNNI/AMX-INT8 where present)."""
    import numpy as np
    import openvino
    import openvino.opset13 as ops

    a = ops.parameter([n, n], np.float32)
    b = ops.constant(np.random.default_rng(1).normal(size=(n, n)).astype(np.float32))
    if precision == "int8":
        def quantized(x, low, high, levels=256):
            return ops.fake_quantize(x, low, high, low, high, levels)
        a_in, b_in = quantized(a, 0.0, 1.0), quantized(b, -4.0, 4.0 * 127 / 128)
        hint = "f32"
    else:
        a_in, b_in, hint = a, b, precision
    model = openvino.Model([ops.matmul(a_in, b_in, False, False)], [a])
    compiled = openvino.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return 2 * n ** 3 / _best_seconds(lambda: request.infer([x])) / 1e9


def gemm_ceilings() -> dict:
    """GFLOP/s (int8: GOP/s) of a 2048^3 matrix product now: fp32 (numpy/OpenBLAS), and OpenVINO's bf16 and int8
    where OpenVINO is installed: the ceilings a benchmark's rows are fractions of."""
    ceilings = {"fp32": round(sgemm_gflops())}
    try:
        for precision in ("bf16", "int8"):
            ceilings[precision] = round(openvino_gemm_gflops(precision))
    except ImportError:
        pass
    return ceilings
