"""Batch mixing: Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019) with MindCV's semantics.

Per batch, with probability ``prob``, either Mixup or CutMix (chosen with ``switch_prob`` when both are on)
blends each image with the image at the mirrored position of the batch; the targets become the same blend of
one-hot labels. CutMix pastes a box of area ``1 - lam`` and corrects ``lam`` to the pasted area after
clipping at the border. Label smoothing is left to the loss (as in MindCV).
"""
from typing import Optional, Tuple

import numpy as np

__all__ = ["BatchMixer", "Mixup"]


class BatchMixer:
    """Mixes an image batch (NCHW or NHWC, ``channels_last``) and returns soft targets (float32, N x classes).

    ``mix(images, labels, rng)`` draws from ``rng`` in the order MindCV's ``Mixup`` draws from ``np.random``
    (``rng`` a ``numpy.random.RandomState``), so both compute the same batch for the same random stream.
    """

    def __init__(self, mixup_alpha: float = 1.0, cutmix_alpha: float = 0.0, prob: float = 1.0,
                 switch_prob: float = 0.5, num_classes: int = 1000, channels_last: bool = False):
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError("BatchMixer needs mixup_alpha > 0 or cutmix_alpha > 0.")
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob
        self.num_classes = num_classes
        self.channels_last = channels_last

    def _params(self, rng: np.random.RandomState) -> Tuple[float, bool]:
        if rng.rand() >= self.prob:
            return 1.0, False
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = bool(rng.rand() < self.switch_prob)
            alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
            return float(rng.beta(alpha, alpha)), use_cutmix
        if self.mixup_alpha > 0:
            return float(rng.beta(self.mixup_alpha, self.mixup_alpha)), False
        return float(rng.beta(self.cutmix_alpha, self.cutmix_alpha)), True

    def _box(self, height: int, width: int, lam: float, rng: np.random.RandomState):
        cut_h, cut_w = int(height * np.sqrt(1 - lam)), int(width * np.sqrt(1 - lam))
        center_y, center_x = rng.randint(0, height), rng.randint(0, width)
        top, bottom = np.clip(center_y - cut_h // 2, 0, height), np.clip(center_y + cut_h // 2, 0, height)
        left, right = np.clip(center_x - cut_w // 2, 0, width), np.clip(center_x + cut_w // 2, 0, width)
        return int(top), int(bottom), int(left), int(right)

    def mix(self, images: np.ndarray, labels: np.ndarray, rng: np.random.RandomState):
        lam, use_cutmix = self._params(rng)
        images = images.astype(np.float32) if images.dtype != np.float32 else images.copy()
        if lam != 1.0:
            if use_cutmix:
                height, width = images.shape[1:3] if self.channels_last else images.shape[2:4]
                top, bottom, left, right = self._box(height, width, lam, rng)
                flipped = images[::-1]
                if self.channels_last:
                    images[:, top:bottom, left:right] = flipped[:, top:bottom, left:right]
                else:
                    images[:, :, top:bottom, left:right] = flipped[:, :, top:bottom, left:right]
                lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
            else:
                images = images * lam + images[::-1] * (1.0 - lam)
        one_hot = np.eye(self.num_classes, dtype=np.float32)[labels.reshape(-1)]
        targets = one_hot * lam + one_hot[::-1] * (1.0 - lam)
        return images.astype(np.float32), targets.astype(np.float32)

    def __call__(self, images: np.ndarray, labels: np.ndarray, keys: Optional[np.ndarray] = None):
        """The batch-map form: ``keys`` (the samples' draw keys) seed the generator of this batch."""
        seed = np.random.SeedSequence([int(k) for k in keys.reshape(-1)]).generate_state(1)[0] if keys is not None \
            else None
        mixed, targets = self.mix(images, labels, np.random.RandomState(seed))
        return (mixed, targets, keys) if keys is not None else (mixed, targets)


class Mixup(BatchMixer):
    """MindCV's ``Mixup``: ``mixer(images, labels)`` mixes an NCHW batch drawing from numpy's global generator, as
    MindCV does, and returns targets smoothed by ``label_smoothing``. Only MindCV's ``mode="batch"`` with the
    area-corrected CutMix ``lam`` and no ``cutmix_minmax`` (what its ``create_loader`` uses) exists here."""

    def __init__(self, mixup_alpha: float = 1.0, cutmix_alpha: float = 0.0, cutmix_minmax=None, prob: float = 1.0,
                 switch_prob: float = 0.5, mode: str = "batch", correct_lam: bool = True,
                 label_smoothing: float = 0.1, num_classes: int = 1000):
        if cutmix_minmax is not None or mode != "batch" or not correct_lam:
            raise ValueError("Mixup supports mode='batch' with correct_lam=True and cutmix_minmax=None only.")
        super().__init__(mixup_alpha, cutmix_alpha, prob, switch_prob, num_classes)
        self.label_smoothing = label_smoothing

    def __call__(self, x: np.ndarray, target: np.ndarray):
        mixed, targets = self.mix(x, target, np.random)
        return mixed, targets * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
