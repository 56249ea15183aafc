"""The project's own error types: what `perception` prints as one line instead of a traceback.

Library code raises these for a bad flag, file or config value, with a message that names it and says
what to do. Anything else (a numpy shape error, a bug) is not one of these and keeps its traceback.
"""

from __future__ import annotations


class PerceptionError(Exception):
    """A user-facing failure whose message is one line naming the file or flag and what to do."""


class InputError(PerceptionError, ValueError):
    """A bad argument, file content or config value (still a ValueError for callers that catch that)."""


class MissingFileError(PerceptionError, FileNotFoundError):
    """A file or folder named by the user does not exist."""


class DiskFullError(PerceptionError, OSError):
    """No space left on the device while writing an output; the message names the path and what was kept."""


class FolderBusyError(PerceptionError):
    """Another live run holds the output folder (perception.out_dir's lock); the message names the holder."""
