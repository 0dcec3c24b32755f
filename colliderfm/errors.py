"""Errors a user can act on: each message names the file, leaf or config key.

Kept apart from the modules that raise them, so that catching them (the command line, a
workflow job's log) imports nothing heavy.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that can't be used; the message names the key."""


class IngestError(Exception):
    """Input that can't be turned into features; the message names the file and leaf."""


class DatasetError(ValueError):
    """Input that can't be split or standardised; the message names the file or sample."""


class CheckpointError(ValueError):
    """A checkpoint that can't be loaded safely: damaged, or holding more than tensors and plain values."""


class EventFileError(ValueError):
    """A Les Houches event file that can't be simulated (broken, truncated or not LHE); the message names it."""


class OutputExistsError(FileExistsError):
    """An output would replace a file the user made."""


# ends a command or a workflow job with its one-line message instead of a traceback
USER_ERRORS = (
    ConfigError,
    IngestError,
    DatasetError,
    CheckpointError,
    EventFileError,
    OutputExistsError,
    FileNotFoundError,
    IsADirectoryError,
    PermissionError,
)


def message(err: Exception) -> str:
    """The one line shown for ``err``: an operating-system error as 'path: reason'."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)
