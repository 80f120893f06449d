"""HTTP transport to etcd's v3 JSON gateway: endpoints, failover, timeouts, error messages.

etcd serves its gRPC API as HTTP/1.1 + JSON as well: every call is a POST of the request
message as JSON to `<api root>/<service path>` (`/v3/kv/range`, `/v3/kv/txn`, ...), with keys
and values base64-encoded and 64-bit integers written as strings. Fields at their default value
(0, false, empty) are left out of responses. Streaming calls (`watch`) answer with one JSON
message per line, `{"result": {...}}`, or `{"error": {...}}` when the stream breaks.

The api root depends on the server version: `/v3` from etcd 3.4 on, `/v3beta` in 3.3
(3.4 serves both). It is learnt per endpoint from `GET /version` on first contact.

Failover: a call goes to the endpoint that answered last; when it cannot connect it tries the
next one, so a dead member costs one connection attempt. A call whose request may have reached
a server (the connection broke or timed out afterwards) is retried elsewhere only when the
caller says repeating it is harmless; otherwise the caller gets a MetadataError saying that the
outcome is unknown, because a repeated compare-and-set could report a conflict with itself.

Unary calls go through a pooled HTTP client (httpx, on trio). A watch stream gets a connection
of its own, spoken with h11 (`WatchStream`), so that abandoning or cutting it is one socket
close.

Every request has a deadline (`request_timeout`); watch streams have none while they wait for
events, since an idle watch is silent.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from typing import Any, NoReturn

import h11
import httpx
import trio

from broker.metadata.store import JsonObject, MetadataError

log = logging.getLogger("rillet.metadata")

# gRPC status codes: "not found" (an unknown or expired lease, for instance) and
# "unavailable" (that member has no leader or is shutting down).
GRPC_NOT_FOUND = 5
GRPC_UNAVAILABLE = 14


class EtcdError(MetadataError):
    """etcd answered a call with an error; `code` is its gRPC status code (0 if unknown)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def b64(data: bytes) -> str:
    """Bytes as the gateway wants them in JSON."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes from a base64 field of a gateway response."""
    return base64.b64decode(text)


def range_end(key: bytes) -> bytes:
    """The smallest key above every key that starts with `key` (etcd's prefix range end).

    An empty `key` (or one of only 0xff bytes) has no such bound; etcd spells "to the end of the
    key space" as a range end of one zero byte.
    """
    trimmed = key.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def api_root_for(version: str) -> str:
    """The gateway prefix that an etcd server of `version` (e.g. "3.4.23") serves."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return "/v3"
    if (major, minor) >= (3, 4):
        return "/v3"
    if (major, minor) == (3, 3):
        return "/v3beta"
    return "/v3alpha"


class WatchStream:
    """One open watch call on a connection of its own: `next_message()` until it returns None.

    Spoken with h11 over a trio socket rather than through the pooled HTTP client: a watch is
    an endless chunked response that is abandoned rather than read to its end, and a socket of
    its own can be closed at any moment, under cancellation too, leaving nothing half-read.
    """

    def __init__(self, endpoint: str, sock: trio.SocketStream) -> None:
        self.endpoint = endpoint
        self._sock = sock
        self._http = h11.Connection(h11.CLIENT)
        self._buffer = bytearray()
        self._scanned = 0

    @classmethod
    async def open(
        cls, endpoint: str, host: str, port: int, target: str, body: JsonObject
    ) -> WatchStream:
        """Connect, send the watch request, and read up to the response headers.

        Raises OSError or MetadataError (EtcdError when etcd refuses the watch).
        """
        sock = await trio.open_tcp_stream(host, port)
        stream = cls(endpoint, sock)
        try:
            payload = json.dumps(body).encode()
            request = h11.Request(
                method="POST",
                target=target,
                headers=[
                    ("Host", endpoint.removeprefix("http://")),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(payload))),
                ],
            )
            http = stream._http
            await sock.send_all(
                http.send(request) + http.send(h11.Data(data=payload)) + http.send(h11.EndOfMessage())
            )
            response = await stream._next_event()
            if not isinstance(response, h11.Response):
                raise MetadataError(f"etcd at {endpoint}: watch got no response")
            if response.status_code != 200:
                content = bytearray()
                while isinstance(event := await stream._next_event(), h11.Data):
                    content += event.data
                _raise_error(endpoint, "watch", response.status_code, bytes(content))
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def next_message(self) -> JsonObject | None:
        """The next streamed message; None when the server ended the stream.

        Raises MetadataError when the stream breaks or carries something other than JSON.
        """
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                self._scanned = 0
                if line.strip():
                    return self._parse(line)
                continue
            self._scanned = len(self._buffer)
            event = await self._next_event()
            if isinstance(event, h11.Data):
                self._buffer += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return None

    async def aclose(self) -> None:
        """Close the connection (etcd cancels the watch); immediate, also under cancellation."""
        await trio.aclose_forcefully(self._sock)

    async def _next_event(self) -> object:
        while True:
            try:
                event = self._http.next_event()
                if event is h11.NEED_DATA:
                    self._http.receive_data(await self._sock.receive_some(65536))
                    continue
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise MetadataError(
                    f"etcd at {self.endpoint}: watch stream broke ({_reason(exc)})"
                ) from None
            except h11.ProtocolError as exc:
                raise MetadataError(
                    f"etcd at {self.endpoint}: watch stream is not valid HTTP ({exc})"
                ) from None
            return event

    def _parse(self, line: bytes) -> JsonObject:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise MetadataError(f"etcd at {self.endpoint}: watch stream sent {line[:80]!r}")
        return message


class EtcdGateway:
    """Calls to etcd members through their JSON gateways, with failover and deadlines.

    `revision` is the highest store revision seen in any response header; it only grows.
    """

    def __init__(self, endpoints: Sequence[tuple[str, int]], request_timeout: float) -> None:
        if not endpoints:
            raise MetadataError("etcd: no endpoints given")
        self._addresses = list(endpoints)
        self.endpoints = [_url(host, port) for host, port in endpoints]
        self.request_timeout = request_timeout
        self.revision = 0
        self._current = 0
        self._api_roots: dict[str, str] = {}
        # Loopback and cluster addresses only: proxy variables from the environment must not
        # reroute metadata traffic.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout), trust_env=False
        )

    def describe(self) -> str:
        """The endpoints, for messages."""
        return ", ".join(self.endpoints)

    async def call(self, path: str, body: JsonObject, *, idempotent: bool) -> JsonObject:
        """POST `body` to `<api root>/<path>` and return the decoded answer.

        Raises EtcdError when etcd refuses the call and MetadataError when no endpoint can be
        reached (or, for a non-idempotent call, when the outcome is unknown).
        """
        failures: list[str] = []
        count = len(self.endpoints)
        for attempt in range(count):
            index = (self._current + attempt) % count
            endpoint = self.endpoints[index]
            sent = False
            try:
                with trio.fail_after(self.request_timeout):
                    root = await self._api_root(endpoint)
                    sent = True
                    response = await self._client.post(f"{endpoint}{root}/{path}", json=body)
                    content = await response.aread()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures.append(f"{endpoint}: cannot connect ({_reason(exc)})")
                self._api_roots.pop(endpoint, None)
                continue
            except MetadataError as exc:  # not an etcd server, by its /version
                failures.append(str(exc))
                continue
            except (httpx.TransportError, trio.TooSlowError) as exc:
                reason = (
                    f"no answer within {self.request_timeout:g} s"
                    if isinstance(exc, trio.TooSlowError)
                    else _reason(exc)
                )
                self._api_roots.pop(endpoint, None)
                if idempotent or not sent:
                    failures.append(f"{endpoint}: {reason}")
                    continue
                raise MetadataError(
                    f"etcd at {endpoint}: {path} failed ({reason}); its outcome is unknown"
                ) from None
            try:
                doc = self._decode(endpoint, path, response.status_code, content)
            except EtcdError as exc:
                if exc.code == GRPC_UNAVAILABLE and idempotent:
                    failures.append(str(exc))
                    continue
                raise
            self._current = index
            return doc
        raise MetadataError(f"etcd: no endpoint answered {path}: " + "; ".join(failures))

    async def open_watch(self, body: JsonObject) -> WatchStream:
        """Open a watch stream with `body` (a create_request) on the first endpoint that answers."""
        failures: list[str] = []
        count = len(self.endpoints)
        for attempt in range(count):
            index = (self._current + attempt) % count
            endpoint = self.endpoints[index]
            host, port = self._addresses[index]
            try:
                with trio.fail_after(self.request_timeout):
                    root = await self._api_root(endpoint)
                    stream = await WatchStream.open(endpoint, host, port, f"{root}/watch", body)
            except (OSError, httpx.TransportError, trio.TooSlowError) as exc:
                self._api_roots.pop(endpoint, None)
                reason = "no answer in time" if isinstance(exc, trio.TooSlowError) else _reason(exc)
                failures.append(f"{endpoint}: {reason}")
                continue
            except MetadataError as exc:  # refused, broken, or not an etcd server
                failures.append(str(exc))
                continue
            self._current = index
            return stream
        raise MetadataError("etcd: no endpoint accepted a watch: " + "; ".join(failures))

    def saw_revision(self, header: Any) -> None:
        """Remember the revision of a response header (the highest one wins)."""
        if isinstance(header, dict):
            revision = int(header.get("revision", 0))
            if revision > self.revision:
                self.revision = revision

    async def aclose(self) -> None:
        """Close every connection, streams included."""
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    async def _api_root(self, endpoint: str) -> str:
        root = self._api_roots.get(endpoint)
        if root is None:
            response = await self._client.get(f"{endpoint}/version")
            content = await response.aread()
            version = ""
            if response.status_code == 200:
                try:
                    version = str(json.loads(content).get("etcdserver", ""))
                except (ValueError, AttributeError):
                    version = ""
            if not version:
                raise MetadataError(f"{endpoint} does not answer like an etcd server (/version)")
            root = self._api_roots[endpoint] = api_root_for(version)
        return root

    def _decode(self, endpoint: str, path: str, status: int, content: bytes) -> JsonObject:
        try:
            doc = json.loads(content) if content else {}
        except ValueError:
            doc = None
        if status != 200 or not isinstance(doc, dict):
            _raise_error(endpoint, path, status, content)
        self.saw_revision(doc.get("header"))
        return doc


def _raise_error(endpoint: str, path: str, status: int, content: bytes) -> NoReturn:
    """Raise the EtcdError that an error answer (JSON with message and gRPC code) describes."""
    message, code = f"HTTP {status}", 0
    try:
        doc = json.loads(content)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        message = str(doc.get("message") or doc.get("error") or message)
        try:
            code = int(doc.get("code", 0))
        except (TypeError, ValueError):
            code = 0
    raise EtcdError(f"etcd at {endpoint}: {path}: {message}", code)


def _url(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text or type(exc).__name__


def log_retry(what: str, exc: BaseException, delay: float) -> None:
    """One warning line for a failure that will be retried after `delay` seconds."""
    log.warning("%s: %s; retrying in %.2f s", what, exc, delay)
