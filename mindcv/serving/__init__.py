"""Inference and deployment: a model with its preprocessing and class names (:mod:`.inference`), the backends
that run it (:mod:`.backends`: MindSpore, or its cached ONNX export under ONNX Runtime or OpenVINO, checked on the
first batch) and exports to MindIR, ONNX and Hub folders (:mod:`.exporting`).

Callers: ``mindcv.predict``, ``mindcv.export``, ``validate.py --backend`` (through :mod:`mindcv.run.validation`)
and the benchmarks.
"""
