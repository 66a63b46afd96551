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
    ``[TIMEOUT]``); ``counts_toward_circuit``: whether it is a failure of the actor
    itself, which the stage's circuit breaker counts.
    """

    counts_toward_circuit = False

    retryable = False
    status = "[FAILED]"


class RetryableActorError(ActorError):
    """A transient failure: the same command may succeed on a later attempt."""

    retryable = True
    status = "[ERROR]"
    counts_toward_circuit = True


class ActorTimeout(RetryableActorError):
    """The actor exceeded the stage's time limit."""

    status = "[TIMEOUT]"


class PermanentActorError(ActorError):
    """Retrying cannot help: the input or the output breaks the stage's contract."""

    retryable = False
    status = "[FAILED]"


class ContractBreak(ActorError):
    """A model's output broke the stage's contract (schema, grounding, an invented name,
    the wrong language): this attempt fails, and the next one samples afresh (seed +
    attempt - 1) after the stage's backoff. The model answered, so the circuit breaker
    does not count it; once ``retry.max_attempts`` are spent the posting takes the
    ``[FAILED]`` branch."""

    retryable = True
    status = "[FAILED]"


class StartPositionError(WavestreamError):
    """Where a consumer group starts reading is not decided: its group has no committed
    offsets (a new group, or offsets that expired) and no start position was chosen."""
