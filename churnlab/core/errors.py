"""The errors a user can fix, and every exit status a churnlab command ends with."""
from enum import IntEnum


class ExitStatus(IntEnum):
    """What a command's exit code says (httpie's ExitStatus is the model)."""

    SUCCESS = 0
    ERROR = 1          # the work ran and failed: a stopped matrix or rank, a failed exercise check
    BAD_INPUT = 2      # a problem the user can fix (LabError): one line on stderr, nothing started
    INTERRUPTED = 130  # Ctrl-C


class LabError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""

    exit_code = ExitStatus.BAD_INPUT
