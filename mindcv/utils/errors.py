"""The errors a user can act on. Entry points print a :class:`MindcvError` as one line and exit with code 2;
any other exception is a bug and keeps its traceback."""

__all__ = ["MindcvError", "ConfigError", "DataError", "CheckpointError", "DownloadError", "FileWriteError",
           "UnknownModelError", "UnknownOptionError"]


class MindcvError(Exception):
    """Base of every error caused by the user's input, files or environment, with a message naming the fix.

    Subclasses also derive from the built-in exception MindCV raises in the same situation, so MindCV code's
    ``except`` clauses keep working."""

    def __str__(self) -> str:
        # the message as written (KeyError, a base of some subclasses, would print its repr in quotes)
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


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


class UnknownOptionError(ConfigError, KeyError):
    """An option name that does not exist (MindCV's config raises KeyError)."""


class UnknownModelError(ConfigError, RuntimeError, KeyError):
    """A model name or pretrained tag is not registered (MindCV's ``create_model`` raises RuntimeError, its
    ``model_entrypoint`` KeyError)."""
