"""Utilities shared by models, data and training."""
from .checkpoint import CheckpointError, read_checkpoint
from .download import DownloadError, cached_download, download_file, get_cache_dir, sha256_file

__all__ = ["CheckpointError", "read_checkpoint", "DownloadError", "cached_download", "download_file",
           "get_cache_dir", "sha256_file"]
