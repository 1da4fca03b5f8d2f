"""Random transforms that draw from a generator seeded per sample, so augmentation is reproducible.

``create_loader`` gives each such transform a generator seeded with the sample's draw key (seed, epoch,
sample; see ``ShardSampler``), whatever worker thread runs it: two runs with the same seed, and a resumed run,
augment every image identically. Called on its own (``transform(image)``, as in a MindCV-style pipeline of
plain callables) a transform draws from its own generator, seeded from ``mindspore.dataset.config``.
"""
import threading

import mindspore.dataset as ds
import numpy as np

__all__ = ["KeyedTransform"]


class KeyedTransform:
    """Base class: subclasses implement ``apply(image, rng)`` with ``rng`` a ``numpy.random.Generator``."""

    def __init__(self):
        self._rng = np.random.default_rng(ds.config.get_seed())
        self._lock = threading.Lock()

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        # Picklable for MindSpore's worker processes under the "spawn" start method (a lock is not).
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, image) -> np.ndarray:
        """Augment one HWC image (an array, or a PIL image as MindCV's pipelines hand over)."""
        with self._lock:
            seed = int(self._rng.integers(1 << 62))
        return self.apply(np.asarray(image), np.random.default_rng(seed))
