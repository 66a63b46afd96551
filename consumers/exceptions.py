"""Errors of the consumers package (workers, actors, routing)."""

from wavestream.exceptions import WavestreamError


class WorkflowError(WavestreamError):
    """A workflow file is invalid; ``problems`` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ActorError(WavestreamError):
    """An actor could not produce an acceptable output for a command.

    ``retryable`` decides between a retry through ``stage.<s>.retry`` and the error
    branch; ``status`` is the branch condition it maps to (``[FAILED]``, ``[ERROR]``,
    ``[TIMEOUT]``).
    """

    retryable = False
    status = "[FAILED]"


class RetryableActorError(ActorError):
    """A transient failure: the same command may succeed on a later attempt."""

    retryable = True
    status = "[ERROR]"


class ActorTimeout(RetryableActorError):
    """The actor exceeded the stage's time limit."""

    status = "[TIMEOUT]"


class PermanentActorError(ActorError):
    """Retrying cannot help: the input or the output breaks the stage's contract."""

    retryable = False
    status = "[FAILED]"


class StartPositionError(WavestreamError):
    """Where a consumer group starts reading is not decided: its group has no committed
    offsets (a new group, or offsets that expired) and no start position was chosen."""
