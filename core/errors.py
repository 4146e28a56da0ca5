"""The one exception type whose message is shown to the user as a single line by the CLI."""


class DynahateError(Exception):
    """A user-facing error: the message names the file, row or key and says what to do.

    The CLI prints ``error: <message>`` on one line and exits with status 2; anything else
    that escapes is a bug and keeps its traceback.
    """
