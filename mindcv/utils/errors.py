"""The errors a user can act on. Entry points print a :class:`MindcvError` as one line and exit with code 2;
any other exception is a bug and keeps its traceback."""

__all__ = ["MindcvError", "ConfigError", "DataError", "CheckpointError", "DownloadError", "FileWriteError",
           "UnknownModelError"]


class MindcvError(Exception):
    """Base of every error caused by the user's input, files or environment, with a message naming the fix."""


class ConfigError(MindcvError, ValueError):
    """An option, configuration file or argument value is invalid."""


class DataError(MindcvError, ValueError):
    """A data set folder or file is missing or laid out wrongly."""


class CheckpointError(MindcvError, RuntimeError):
    """A checkpoint file is missing, unreadable or does not fit the model."""


class DownloadError(MindcvError, RuntimeError):
    """A download failed or produced a file that does not match its expected hash."""


class FileWriteError(MindcvError, OSError):
    """A file could not be written (read-only folder, missing folder, disk full)."""


class UnknownModelError(ConfigError):
    """A model name or pretrained tag is not registered."""
