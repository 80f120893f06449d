"""Exceptions the SDK raises to applications.

Every failure a broker reports by error code becomes a :class:`KafkaError` subclass named for
the code: ``NOT_LEADER_OR_FOLLOWER`` is :class:`NotLeaderOrFollowerError`,
``UNKNOWN_TOPIC_OR_PARTITION`` is :class:`UnknownTopicOrPartitionError`, and so on for every
code in :class:`client.protocol.ErrorCode` (a trailing ``_EXCEPTION`` in Kafka's name is
dropped, so ``INVALID_TOPIC_EXCEPTION`` is :class:`InvalidTopicError`). Each carries
``error_code``, ``name`` (Kafka's name) and two flags the retry logic reads:

* ``retriable``: the same request may succeed later (leader moved, coordinator loading, ...);
* ``invalid_metadata``: the cached cluster metadata is stale and must be refreshed first.

Failures that have no wire code have their own classes: :class:`KafkaConnectionError` (a
broker could not be reached or dropped the connection; retriable), :class:`KafkaTimeoutError`
(a deadline passed), :class:`ClientClosedError`, :class:`BufferFullError`,
:class:`UnsupportedVersionByBrokerError` and :class:`IllegalStateError`.

``error_for(code, message)`` builds the matching exception; ``raise_for_code(code)`` raises it
unless the code is NONE.
"""

from __future__ import annotations

from client.protocol import ErrorCode

__all__ = [
    "KafkaError",
    "KafkaConnectionError",
    "KafkaTimeoutError",
    "ClientClosedError",
    "BufferFullError",
    "IllegalStateError",
    "UnsupportedVersionByBrokerError",
    "ERROR_CLASSES",
    "error_for",
    "raise_for_code",
    "class_name_for",
]

# Codes whose Java exception is a RetriableException: the request may succeed if sent again.
RETRIABLE_CODES = frozenset({
    ErrorCode.CORRUPT_MESSAGE,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.REQUEST_TIMED_OUT,
    ErrorCode.REPLICA_NOT_AVAILABLE,
    ErrorCode.NETWORK_EXCEPTION,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_COORDINATOR,
    ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ErrorCode.NOT_CONTROLLER,
    ErrorCode.CONCURRENT_TRANSACTIONS,
    ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.FETCH_SESSION_ID_NOT_FOUND,
    ErrorCode.INVALID_FETCH_SESSION_EPOCH,
    ErrorCode.LISTENER_NOT_FOUND,
    ErrorCode.FENCED_LEADER_EPOCH,
    ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.OFFSET_NOT_AVAILABLE,
    ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
    ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
    ErrorCode.UNSTABLE_OFFSET_COMMIT,
    ErrorCode.THROTTLING_QUOTA_EXCEEDED,
    ErrorCode.UNKNOWN_TOPIC_ID,
    ErrorCode.INCONSISTENT_TOPIC_ID,
    ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR,
    ErrorCode.NEW_LEADER_ELECTED,
    ErrorCode.UNKNOWN_CONTROLLER_ID,
})

# Codes that mean "your view of the cluster is out of date": refresh metadata, then retry.
INVALID_METADATA_CODES = frozenset({
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.LEADER_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.REPLICA_NOT_AVAILABLE,
    ErrorCode.NOT_CONTROLLER,
    ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.LISTENER_NOT_FOUND,
    ErrorCode.FENCED_LEADER_EPOCH,
    ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.UNKNOWN_TOPIC_ID,
    ErrorCode.INCONSISTENT_TOPIC_ID,
    ErrorCode.NEW_LEADER_ELECTED,
    ErrorCode.UNKNOWN_CONTROLLER_ID,
})


class KafkaError(Exception):
    """Base of every SDK exception; ``name`` is Kafka's error name when a broker sent a code."""

    error_code: ErrorCode | None = None
    retriable: bool = False
    invalid_metadata: bool = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message
        super().__init__(self._text(message))

    @property
    def name(self) -> str:
        """Kafka's name for the error (e.g. ``NOT_LEADER_OR_FOLLOWER``), else the class name."""
        return self.error_code.name if self.error_code is not None else type(self).__name__

    def _text(self, message: str | None) -> str:
        if self.error_code is None:
            return message or type(self).__name__
        head = f"[Error {int(self.error_code)}] {self.error_code.name}"
        return f"{head}: {message}" if message else head


class KafkaConnectionError(KafkaError):
    """A broker could not be reached, or the connection broke before the response arrived."""

    retriable = True
    invalid_metadata = True


class KafkaTimeoutError(KafkaError):
    """A deadline passed: a request got no response in time, or a send was not delivered
    within ``delivery_timeout_ms``, or metadata could not be fetched in time."""

    retriable = True


class ClientClosedError(KafkaError):
    """The producer, consumer, admin client or connection has been closed."""


class BufferFullError(KafkaTimeoutError):
    """The producer's ``buffer_memory`` stayed full for longer than ``max_block_ms``."""


class IllegalStateError(KafkaError):
    """The operation makes no sense in the client's current state (e.g. a fenced producer)."""


class UnsupportedVersionByBrokerError(KafkaError):
    """The broker speaks no version of an API that this client speaks too."""


def class_name_for(code: ErrorCode) -> str:
    """The exception class name for a Kafka error code (``NOT_COORDINATOR`` ->
    ``NotCoordinatorError``)."""
    name = code.name
    if name.endswith("_EXCEPTION"):
        name = name[: -len("_EXCEPTION")]
    return "".join(part.capitalize() for part in name.split("_")) + "Error"


ERROR_CLASSES: dict[ErrorCode, type[KafkaError]] = {}

for _code in ErrorCode:
    if _code is ErrorCode.NONE:
        continue
    _cls = type(
        class_name_for(_code),
        (KafkaError,),
        {
            "__doc__": f"The broker answered {_code.name} (error code {int(_code)}).",
            "__module__": __name__,
            "error_code": _code,
            "retriable": _code in RETRIABLE_CODES,
            "invalid_metadata": _code in INVALID_METADATA_CODES,
        },
    )
    ERROR_CLASSES[_code] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _code, _cls


def error_for(code: int, message: str | None = None) -> KafkaError:
    """The exception for a Kafka error code; an unknown code gives UnknownServerError with
    the number in its message."""
    try:
        cls = ERROR_CLASSES[ErrorCode(code)]
    except (ValueError, KeyError):
        text = f"unknown error code {code}" + (f": {message}" if message else "")
        return ERROR_CLASSES[ErrorCode.UNKNOWN_SERVER_ERROR](text)
    return cls(message)


def raise_for_code(code: int, message: str | None = None) -> None:
    """Raise the exception for ``code`` unless it is 0 (NONE)."""
    if code:
        raise error_for(code, message)


def __getattr__(name: str) -> type[KafkaError]:
    # Only reached for names not generated above: say what exists instead of a bare miss.
    raise AttributeError(
        f"client.errors has no {name!r}; error classes are named after Kafka codes, "
        f"e.g. {class_name_for(ErrorCode.NOT_LEADER_OR_FOLLOWER)}"
    )
