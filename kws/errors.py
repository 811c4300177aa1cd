"""Errors a user can act on.

Every error that reaches a person is a ``KwsError``: its message is one line that says what
went wrong and how to fix it. ``kws.stage.run`` prints it without a traceback.
"""


class KwsError(Exception):
    """Base class: the message is shown to the user as is."""


class ParamsError(KwsError):
    """A value in params.yaml is missing or not allowed."""


class AudioError(KwsError):
    """A wav file is unreadable or not in the expected format."""


class DataError(KwsError):
    """A data set is missing, truncated, corrupt or unsafe."""


class ToolMissingError(KwsError):
    """An external program (espeak-ng, arm-none-eabi-gcc, ...) is not installed."""
