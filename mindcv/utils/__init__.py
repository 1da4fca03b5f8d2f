"""Utilities shared by models, data and training."""
from .checkpoint import read_checkpoint
from .download import cached_download, download_file, get_cache_dir, sha256_file
from .errors import CheckpointError, ConfigError, DataError, DownloadError, FileWriteError, MindcvError

__all__ = ["MindcvError", "ConfigError", "DataError", "CheckpointError", "DownloadError", "FileWriteError",
           "read_checkpoint", "cached_download", "download_file", "get_cache_dir", "sha256_file"]
