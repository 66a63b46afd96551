"""Errors of the embedded stack."""

from wavestream.exceptions import WavestreamError


class StackError(WavestreamError):
    """The embedded stack could not be started, stopped or inspected.

    The message is one line naming the cause and, where there is one, the log file.
    """


class PortInUse(StackError):
    """A port the stack needs is already taken by another process."""


class MissingTool(StackError):
    """A program the stack needs (java, mvn, initdb, ...) is not installed."""
