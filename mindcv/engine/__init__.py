"""Training and evaluation engine used by ``train.py`` and ``validate.py``."""
