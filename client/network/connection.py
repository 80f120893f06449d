"""One TCP connection to one broker: pipelined requests, responses matched in order.

A :class:`BrokerConnection` is the trio glue around the sans-I/O codec. ``connect()`` opens
the socket and negotiates API versions (ApiVersions, retried once at the broker's own version
when it rejects ours). ``request()`` encodes a body, writes it, and waits for the matching
response; many requests may be outstanding at once, up to ``max_in_flight``. Kafka brokers
answer in request order, so one reader task decodes frames and hands each to the oldest
outstanding request, checking that the correlation ids agree; a mismatch, a broken socket or
a request that outlives its timeout closes the connection and fails every outstanding request
with :class:`KafkaConnectionError` / :class:`KafkaTimeoutError` — both retriable — because
once one response is lost the order of the rest can no longer be trusted.

A caller cancelled while waiting leaves its slot in the queue: the response is still read
and dropped, so later responses stay matched. A caller cancelled in the middle of a write
closes the connection, since a half-written frame cannot be taken back.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections import deque
import trio

from client.errors import (
    ClientClosedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnsupportedVersionByBrokerError,
    error_for,
)
from client.network.sockio import receive_some
from client.network.tasks import TaskGroup
from client.network.vectored import send_vectored
from client.network.versions import negotiate
from client.protocol import (
    SUPPORTED_VERSIONS,
    ApiKey,
    ErrorCode,
    FrameDecoder,
    ProtocolError,
    decode_response,
    encode_request_chunks,
)

__all__ = ["BrokerConnection", "CLIENT_SOFTWARE_NAME", "CLIENT_SOFTWARE_VERSION"]

log = logging.getLogger(__name__)

CLIENT_SOFTWARE_NAME = "rillet-python"
CLIENT_SOFTWARE_VERSION = "0.1.0"

DEFAULT_MAX_FRAME_SIZE = 256 * 1024 * 1024
_RECEIVE_SIZE = 256 * 1024
_CORRELATION = struct.Struct(">i")
_INT16 = struct.Struct(">h")


class _Pending:
    """An outstanding request: what to decode its response with, and where to put it."""

    __slots__ = ("api_key", "version", "correlation_id", "done", "body", "error")

    def __init__(self, api_key: int, version: int, correlation_id: int) -> None:
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id
        self.done = trio.Event()
        self.body: dict | None = None
        self.error: BaseException | None = None


class BrokerConnection:
    """A connection to the broker at ``host:port`` (``node_id`` < 0 for bootstrap servers).

    After :meth:`connect`, ``versions`` maps each API both sides speak to the highest common
    version, and ``broker_versions`` holds the broker's advertised ranges.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        node_id: int = -1,
        client_id: str | None = None,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_in_flight: int = 5,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        tasks: TaskGroup | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.host = host
        self.port = port
        self.node_id = node_id
        self.client_id = client_id
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_in_flight = max_in_flight
        self.versions: dict[ApiKey, int] = {}
        self.broker_versions: dict[int, tuple[int, int]] = {}
        self._tasks = tasks if tasks is not None else TaskGroup()
        self._own_tasks = tasks is None
        self._decoder = FrameDecoder(max_frame_size)
        self._stream: trio.SocketStream | None = None
        self._send_lock = trio.Lock()
        self._slots = trio.Semaphore(max_in_flight)
        self._pending: deque[_Pending] = deque()
        self._correlation = itertools.count(1)
        self._reader_scope: trio.CancelScope | None = None
        self._reader_done = trio.Event()
        self._failure: KafkaError | None = None
        self._connected = False

    def __repr__(self) -> str:
        return f"<BrokerConnection node={self.node_id} {self.host}:{self.port}>"

    @property
    def connected(self) -> bool:
        """True once connected and negotiated, until closed or broken."""
        return self._connected and self._failure is None

    @property
    def closed(self) -> bool:
        """True once the connection is closed or broken; a closed connection is not reused."""
        return self._failure is not None

    @property
    def in_flight(self) -> int:
        """Requests written whose responses have not been read yet."""
        return len(self._pending)

    async def connect(self) -> None:
        """Open the socket and negotiate versions; KafkaConnectionError if either fails."""
        if self._stream is not None:
            raise RuntimeError("connect() called twice")
        try:
            with trio.fail_after(self.connect_timeout):
                self._stream = await trio.open_tcp_stream(self.host, self.port)
        except (OSError, trio.TooSlowError) as exc:
            self._failure = KafkaConnectionError(
                f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}"
            )
            raise self._failure from None
        self._reader_scope = trio.CancelScope()
        self._tasks.start_soon(self._reader, name=f"kafka-reader-{self.host}:{self.port}")
        try:
            await self._negotiate()
        except BaseException:
            await self.aclose()
            raise
        self._connected = True

    async def _negotiate(self) -> None:
        low, high = SUPPORTED_VERSIONS[ApiKey.API_VERSIONS]
        body = {
            "client_software_name": CLIENT_SOFTWARE_NAME,
            "client_software_version": CLIENT_SOFTWARE_VERSION,
        }
        version = high
        for _ in range(2):
            reply = await self._call(ApiKey.API_VERSIONS, version, body, self.connect_timeout)
            code = reply["error_code"]
            ranges = {e["api_key"]: (e["min_version"], e["max_version"]) for e in reply["api_keys"]}
            if code == ErrorCode.UNSUPPORTED_VERSION and ApiKey.API_VERSIONS in ranges:
                # the broker told us its own ApiVersions range: retry at the best common one
                theirs = ranges[ApiKey.API_VERSIONS][1]
                if theirs >= version or theirs < low:
                    break
                version = theirs
                continue
            if code:
                raise error_for(code, f"ApiVersions from {self.host}:{self.port}")
            self.broker_versions = ranges
            self.versions = negotiate(ranges)
            return
        raise UnsupportedVersionByBrokerError(
            f"{self.host}:{self.port} speaks no ApiVersions version in {low}..{high}"
        )

    def version_for(self, api_key: ApiKey, max_version: int | None = None) -> int:
        """The version to use for ``api_key`` on this connection, at most ``max_version``."""
        version = self.versions.get(api_key)
        if version is None:
            raise UnsupportedVersionByBrokerError(
                f"broker {self.node_id} ({self.host}:{self.port}) does not support "
                f"{ApiKey(api_key).name} in our range {SUPPORTED_VERSIONS.get(api_key)}"
            )
        if max_version is not None and max_version < version:
            low = max(SUPPORTED_VERSIONS[api_key][0], self.broker_versions[api_key][0])
            if max_version < low:
                raise UnsupportedVersionByBrokerError(
                    f"{ApiKey(api_key).name} v{max_version} or lower is not supported by "
                    f"broker {self.node_id} (lowest common version {low})"
                )
            version = max_version
        return version

    async def request(
        self,
        api_key: ApiKey,
        body: dict,
        *,
        version: int | None = None,
        max_version: int | None = None,
        timeout: float | None = None,
        expect_response: bool = True,
    ) -> dict | None:
        """Send one request and return the decoded response body.

        ``version`` pins the version (it must be one both sides speak); otherwise the highest
        common one is used, capped at ``max_version``. ``timeout`` (seconds) defaults to the
        connection's request timeout. With ``expect_response=False`` (Produce with acks=0)
        the call returns None once the request is written. Error codes inside the body are
        the caller's to interpret; failures of the connection itself raise
        KafkaConnectionError, KafkaTimeoutError or ClientClosedError.
        """
        if self._failure is not None:
            raise self._reuse_error()
        if version is None:
            version = self.version_for(api_key, max_version)
        elif api_key in self.versions:
            low = max(SUPPORTED_VERSIONS[api_key][0], self.broker_versions[api_key][0])
            if not low <= version <= self.versions[api_key]:
                raise UnsupportedVersionByBrokerError(
                    f"{ApiKey(api_key).name} v{version} is outside the common range "
                    f"{low}..{self.versions[api_key]} with broker {self.node_id}"
                )
        else:
            self.version_for(api_key)
        return await self._call(
            api_key, version, body, self.request_timeout if timeout is None else timeout,
            expect_response,
        )

    def _reuse_error(self) -> KafkaError:
        assert self._failure is not None
        if isinstance(self._failure, ClientClosedError):
            return ClientClosedError(f"connection to {self.host}:{self.port} is closed")
        return KafkaConnectionError(
            f"connection to {self.host}:{self.port} is broken: {self._failure}"
        )

    async def _call(
        self,
        api_key: int,
        version: int,
        body: dict,
        timeout: float,
        expect_response: bool = True,
    ) -> dict | None:
        correlation_id = next(self._correlation) & 0x7FFFFFFF
        frame = encode_request_chunks(api_key, version, correlation_id, self.client_id, body)
        pending = _Pending(api_key, version, correlation_id) if expect_response else None
        with trio.move_on_after(timeout) as waiting:
            if pending is not None:
                await self._slots.acquire()
            await self._write(frame, pending)
            if pending is None:
                return None
            await pending.done.wait()
        if waiting.cancelled_caught:
            error = KafkaTimeoutError(
                f"no response to {ApiKey(api_key).name} v{version} from {self.host}:{self.port} "
                f"within {timeout:.3f} s"
            )
            self._fail(error)
            raise error
        assert pending is not None
        if pending.error is not None:
            raise pending.error
        assert pending.body is not None
        return pending.body

    async def _write(self, frame: list[bytes | memoryview], pending: _Pending | None) -> None:
        async with self._send_lock:
            if self._failure is not None:
                if pending is not None:
                    self._slots.release()
                raise self._reuse_error()
            assert self._stream is not None
            if pending is not None:
                self._pending.append(pending)
            try:
                await send_vectored(self._stream, frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                self._fail(KafkaConnectionError(f"write to {self.host}:{self.port} failed: {exc}"))
                raise self._reuse_error() from None
            except trio.Cancelled:
                self._fail(KafkaConnectionError("a request was cancelled while being written"))
                raise

    async def _reader(self) -> None:
        assert self._stream is not None and self._reader_scope is not None
        stream = self._stream
        sock = stream.socket if isinstance(stream, trio.SocketStream) else None
        try:
            with self._reader_scope:
                while True:
                    if sock is None:
                        data = await stream.receive_some(_RECEIVE_SIZE)
                    else:
                        data = await receive_some(sock, _RECEIVE_SIZE)
                        if len(data) == _RECEIVE_SIZE:
                            # more is probably waiting: let other tasks run between pieces
                            await trio.lowlevel.checkpoint()
                    if not data:
                        self._fail(KafkaConnectionError(
                            f"{self.host}:{self.port} closed the connection"
                        ))
                        break
                    self._decoder.receive_data(data)
                    while (frame := self._decoder.next_frame()) is not None:
                        self._dispatch(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._fail(KafkaConnectionError(f"read from {self.host}:{self.port} failed: {exc}"))
        except ProtocolError as exc:
            self._fail(KafkaConnectionError(f"bad frame from {self.host}:{self.port}: {exc}"))
        except KafkaError as exc:
            self._fail(exc)
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
            if self._failure is None:
                self._fail(ClientClosedError(f"connection to {self.host}:{self.port} closed"))
            self._reader_done.set()

    def _dispatch(self, frame: memoryview) -> None:
        if not self._pending:
            raise KafkaConnectionError(f"{self.host}:{self.port} sent a response nobody asked for")
        pending = self._pending[0]
        (correlation_id,) = _CORRELATION.unpack_from(frame, 0)
        if correlation_id != pending.correlation_id:
            raise KafkaConnectionError(
                f"{self.host}:{self.port} answered correlation id {correlation_id}, "
                f"expected {pending.correlation_id}"
            )
        self._pending.popleft()
        self._slots.release()
        if pending.api_key == ApiKey.API_VERSIONS and len(frame) >= 6:
            (code,) = _INT16.unpack_from(frame, 4)
            if code == ErrorCode.UNSUPPORTED_VERSION:
                # the broker answers an ApiVersions version it does not know with a v0 body
                pending.version = 0
        try:
            _, pending.body = decode_response(pending.api_key, pending.version, frame)
        except ProtocolError as exc:
            pending.error = KafkaConnectionError(
                f"malformed {ApiKey(pending.api_key).name} v{pending.version} response from "
                f"{self.host}:{self.port}: {exc}"
            )
            pending.done.set()
            raise pending.error from None
        pending.done.set()

    def _fail(self, error: KafkaError) -> None:
        """Mark the connection dead, fail every outstanding request, stop the reader."""
        if self._failure is None:
            self._failure = error
            if not isinstance(error, ClientClosedError):
                log.debug("connection %r failed: %s", self, error)
        while self._pending:
            pending = self._pending.popleft()
            self._slots.release()
            if not pending.done.is_set():
                pending.error = error
                pending.done.set()
        if self._reader_scope is not None:
            self._reader_scope.cancel()

    async def aclose(self) -> None:
        """Close the connection; outstanding requests fail with ClientClosedError."""
        self._fail(ClientClosedError(f"connection to {self.host}:{self.port} closed"))
        if self._stream is not None and self._reader_scope is not None:
            with trio.CancelScope(shield=True):
                await self._reader_done.wait()
        if self._own_tasks:
            await self._tasks.aclose()

    async def __aenter__(self) -> BrokerConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

