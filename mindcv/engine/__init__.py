"""Cells and callbacks both training stacks share: the compiled step, mixed precision, input normalisation, sums
over ranks, evaluation and calibration, experiment tracking, and MindCV's ``mindspore.Model`` API.

Callers: :mod:`mindcv.run` (what ``train.py`` / ``validate.py`` run), :mod:`mindcv.serving`, and users' own
scripts written against MindCV, which reach ``create_trainer``, ``TrainStep``, ``StateMonitor``, ``ValCallback``,
``AllReduceSum`` and ``auto_mixed_precision`` through ``mindcv.utils`` as in MindCV (upstream keeps these modules
in ``mindcv/utils/``).
"""
