class LabError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""

    exit_code = 2
