"""What ``train.py`` and ``validate.py`` run: the parts built from the options (:mod:`.builder`), the process
set-up (:mod:`.runtime`), a training run (:mod:`.training`) with its epoch loop, checkpoints and stop signals,
and an evaluation (:mod:`.validation`).

Callers: the commands ``mindcv.train`` / ``mindcv.validate`` (and the root scripts, which are shims for them),
``mindcv.cli`` and the benchmarks. The options themselves live in :mod:`mindcv.config`.
"""
