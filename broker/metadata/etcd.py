"""The `etcd` metadata backend: the MetadataStore in an etcd v3 cluster, plus leases.

Configured as `metadata.store = "etcd://host:port[,host:port...]/prefix"`. Every store key
`k` lives in etcd as `<prefix>/k` (no prefix: the key itself); values are JSON text.

How the interface maps onto etcd:

- A key's version is its etcd `mod_revision`, so versions share etcd's one revision counter:
  they only grow, survive restarts, and 0 means absent. `list` answers with the revision of
  the range's response header.
- `compare_and_set(key, v, new)` is one transaction: if `mod_revision(key) == v` (absent keys
  compare as 0) then put or delete. A put made this way carries no lease.
- `watch(prefix)` takes the highest revision this store has seen in any answer, R, and asks
  etcd for every change from R + 1 on. So it registers at once, without I/O: any write this
  store made or observed before the call is excluded, any later one is included. The HTTP
  stream opens on the first iteration and reopens, with backoff and on the next endpoint if
  need be, from the revision after the last change handed out, so a dropped stream or a
  restarted etcd loses and repeats nothing. If etcd has compacted its history past that point,
  iteration raises WatchLagged and the caller lists again. Unlike the local backend, a change
  reaches watchers shortly after `compare_and_set` returns, not before.

Leases (the `Leases` shape of `broker.metadata.leases`): `grant_lease(ttl_s)`,
`keep_alive(lease)` as a task, `put_with_lease`, `create_with_lease` (create-if-absent, the
election primitive) and `revoke`. A key written with a lease vanishes when the lease expires,
which etcd does about `ttl_s` seconds after the last keep-alive; its deletion is an ordinary
change seen by watchers.

Every request has a deadline (`request_timeout`, 5 s by default); failures become
MetadataError naming the endpoint.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import NoReturn
from urllib.parse import urlsplit

import trio

from broker.metadata.etcd_gateway import (
    GRPC_NOT_FOUND,
    EtcdError,
    EtcdGateway,
    WatchStream,
    b64,
    log_retry,
    range_end,
    unb64,
)
from broker.metadata.leases import LeaseExpired
from broker.metadata.store import (
    Change,
    JsonObject,
    MetadataError,
    MetadataStore,
    Versioned,
    Watch,
    WatchLagged,
)

DEFAULT_REQUEST_TIMEOUT = 5.0
# Reconnect delays of a broken watch stream: doubling from the first to the last.
WATCH_RETRY_FIRST = 0.05
WATCH_RETRY_MAX = 1.0


def parse_etcd_url(url: str) -> tuple[list[tuple[str, int]], str]:
    """`etcd://h1:p1,h2:p2/prefix` -> ([(h1, p1), (h2, p2)], "prefix/").

    The key prefix gets one trailing `/` unless empty. Raises MetadataError when malformed.
    """
    parts = urlsplit(url)
    if parts.scheme != "etcd" or not parts.netloc:
        raise MetadataError(f"expected etcd://host:port[,host:port]/prefix, got {url!r}")
    endpoints: list[tuple[str, int]] = []
    for address in parts.netloc.split(","):
        host, sep, port_text = address.strip().rpartition(":")
        if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
            raise MetadataError(f"{url!r}: {address!r} is not host:port")
        endpoints.append((host.strip("[]"), int(port_text)))
    prefix = parts.path.strip("/")
    return endpoints, f"{prefix}/" if prefix else ""


class EtcdMetadataStore(MetadataStore):
    """MetadataStore and Leases on etcd; open with `await EtcdMetadataStore.open(url)`."""

    def __init__(self, gateway: EtcdGateway, prefix: str) -> None:
        self.prefix = prefix
        self._gateway = gateway
        self._root = prefix.encode()
        self._watches: list[EtcdWatch] = []
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, *, request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> EtcdMetadataStore:
        """Connect to the cluster named by `url` (see `parse_etcd_url`) and check it answers."""
        endpoints, prefix = parse_etcd_url(url)
        return await cls.connect(endpoints, prefix, request_timeout=request_timeout)

    @classmethod
    async def connect(
        cls,
        endpoints: Sequence[tuple[str, int]],
        prefix: str,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> EtcdMetadataStore:
        """Like `open`, from parsed parts; `prefix` is used as given (include its `/`)."""
        store = cls(EtcdGateway(endpoints, request_timeout), prefix)
        try:
            # Learns the current revision, which the first watch starts after.
            await store._gateway.call(
                "kv/range", {"key": b64(store._root or b"\0"), "count_only": True}, idempotent=True
            )
        except BaseException:
            await store._gateway.aclose()
            raise
        return store

    @property
    def revision(self) -> int:
        """The highest store revision seen in any answer so far."""
        return self._gateway.revision

    def describe(self) -> str:
        """Where the store lives, for messages."""
        return f"etcd {self._gateway.describe()} under {self.prefix!r}"

    # -- the MetadataStore interface --------------------------------------------------------

    async def get(self, key: str) -> Versioned | None:
        """The key's value and version, or None when absent."""
        self._check_open()
        doc = await self._gateway.call(
            "kv/range", {"key": b64(self._full(key))}, idempotent=True
        )
        kvs = doc.get("kvs") or []
        return self._versioned(kvs[0]) if kvs else None

    async def list(self, prefix: str) -> tuple[dict[str, Versioned], int]:
        """Every key starting with `prefix`, and the revision of that snapshot."""
        self._check_open()
        start = self._full(prefix)
        doc = await self._gateway.call(
            "kv/range",
            {"key": b64(start or b"\0"), "range_end": b64(range_end(start))},
            idempotent=True,
        )
        found: dict[str, Versioned] = {}
        for kv in doc.get("kvs") or []:
            found[self._key_of(kv)] = self._versioned(kv)
        return found, int(doc.get("header", {}).get("revision", 0))

    async def compare_and_set(
        self, key: str, expected_version: int, new: JsonObject | None
    ) -> bool:
        """Write `new` (None = delete) if the key's version is `expected_version` (0 = absent).

        One etcd transaction; True once etcd has committed it.
        """
        self._check_open()
        if new is None and expected_version == 0:
            return False  # nothing to delete
        full = b64(self._full(key))
        if new is None:
            operation = {"request_delete_range": {"key": full}}
        else:
            operation = {"request_put": {"key": full, "value": b64(_encode(new))}}
        doc = await self._gateway.call(
            "kv/txn",
            {
                "compare": [_mod_revision_is(full, expected_version)],
                "success": [operation],
            },
            idempotent=False,
        )
        return bool(doc.get("succeeded"))

    def watch(self, prefix: str) -> Watch:
        """Register a watch on keys starting with `prefix`; see the module docstring."""
        self._check_open()
        watch = EtcdWatch(self, prefix, self._gateway.revision + 1)
        self._watches.append(watch)
        return watch

    async def aclose(self) -> None:
        """Close the store: watches end, connections close, later calls raise MetadataError."""
        if self._closed:
            return
        self._closed = True
        for watch in self._watches:
            watch.end()
        self._watches.clear()
        await self._gateway.aclose()

    # -- leases -----------------------------------------------------------------------------

    async def grant_lease(self, ttl_s: int) -> int:
        """A new lease that expires `ttl_s` seconds after its last keep-alive; its id."""
        self._check_open()
        # A repeated grant leaves an unused lease behind, which expires on its own.
        doc = await self._gateway.call("lease/grant", {"TTL": int(ttl_s)}, idempotent=True)
        if doc.get("error"):
            raise MetadataError(f"etcd refused a lease of {ttl_s} s: {doc['error']}")
        return int(doc["ID"])

    async def keep_alive(
        self, lease: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Keep `lease` alive until cancelled; start with `await nursery.start(...)`.

        Refreshes every third of the TTL. Raises LeaseExpired when etcd reports the lease gone,
        or when no endpoint has answered for as long as the TTL (etcd will have dropped it by
        then). `task_status.started()` follows the first successful refresh.
        """
        started = False
        expires_at = trio.current_time()
        while True:
            self._check_open()
            asked_at = trio.current_time()
            try:
                doc = await self._gateway.call(
                    "lease/keepalive", {"ID": str(lease)}, idempotent=True
                )
            except EtcdError:
                raise
            except MetadataError as exc:
                if not started or trio.current_time() >= expires_at:
                    raise LeaseExpired(f"lease {lease}: could not be kept alive ({exc})") from None
                delay = min(0.5, max(0.05, expires_at - trio.current_time()) / 4)
                log_retry(f"keep-alive of lease {lease}", exc, delay)
                await trio.sleep(delay)
                continue
            result = doc.get("result", doc)
            self._gateway.saw_revision(result.get("header"))
            ttl = int(result.get("TTL", 0))
            if ttl <= 0:
                raise LeaseExpired(f"lease {lease} has expired on {self.describe()}")
            expires_at = asked_at + ttl
            if not started:
                started = True
                task_status.started()
            await trio.sleep(ttl / 3)

    async def put_with_lease(self, key: str, value: JsonObject, lease: int) -> int:
        """Write `key` unconditionally, attached to `lease`; its new version.

        Raises LeaseExpired if the lease is gone.
        """
        self._check_open()
        try:
            doc = await self._gateway.call(
                "kv/put",
                {"key": b64(self._full(key)), "value": b64(_encode(value)), "lease": str(lease)},
                idempotent=True,
            )
        except EtcdError as exc:
            raise _lease_error(exc, lease) from None
        return int(doc["header"]["revision"])

    async def create_with_lease(self, key: str, value: JsonObject, lease: int) -> int | None:
        """Create `key` attached to `lease` if it is absent: its version, or None if it exists.

        Of several stores racing for one key exactly one gets a version; the key disappears
        when that winner's lease ends (revoke, or keep-alives stop for the TTL), and then
        another may create it. Raises LeaseExpired if the lease is gone.
        """
        self._check_open()
        full = b64(self._full(key))
        put = {"request_put": {"key": full, "value": b64(_encode(value)), "lease": str(lease)}}
        try:
            doc = await self._gateway.call(
                "kv/txn",
                {"compare": [_mod_revision_is(full, 0)], "success": [put]},
                idempotent=False,
            )
        except EtcdError as exc:
            raise _lease_error(exc, lease) from None
        if not doc.get("succeeded"):
            return None
        return int(doc["header"]["revision"])

    async def revoke(self, lease: int) -> None:
        """End `lease` now, deleting its keys; a lease that is already gone is fine."""
        self._check_open()
        try:
            await self._gateway.call("kv/lease/revoke", {"ID": str(lease)}, idempotent=True)
        except EtcdError as exc:
            if exc.code != GRPC_NOT_FOUND:
                raise

    # -- helpers ----------------------------------------------------------------------------

    def _full(self, key: str) -> bytes:
        return self._root + key.encode()

    def _key_of(self, kv: JsonObject) -> str:
        return unb64(kv.get("key", ""))[len(self._root) :].decode()

    def _versioned(self, kv: JsonObject) -> Versioned:
        return Versioned(self._value_of(kv), int(kv.get("mod_revision", 0)))

    def _value_of(self, kv: JsonObject) -> JsonObject:
        raw = unb64(kv.get("value", ""))
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise MetadataError(
                f"{self.describe()}: key {self._key_of(kv)!r} does not hold a JSON object"
            )
        return value

    def _unregister(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)  # type: ignore[arg-type]

    def _check_open(self) -> None:
        if self._closed:
            raise MetadataError(f"the metadata store ({self.describe()}) is closed")


class EtcdWatch(Watch):
    """A watch on one etcd key range that pulls changes from an HTTP stream as it is iterated.

    Nothing is buffered beyond the events of one stream message, so a slow consumer costs
    etcd-side buffering only. `next_revision` is the revision the stream resumes from.
    """

    def __init__(self, store: EtcdMetadataStore, prefix: str, start_revision: int) -> None:
        super().__init__(prefix, 1, store._unregister)
        self.next_revision = start_revision
        self._store = store
        start = store._full(prefix)
        self._request = {"key": b64(start or b"\0"), "range_end": b64(range_end(start))}
        self._pending: deque[Change] = deque()
        self._stream: WatchStream | None = None
        self._reading: trio.CancelScope | None = None
        self._retry_delay = WATCH_RETRY_FIRST
        self._ended = False

    def deliver(self, change: Change) -> None:
        """Not used: changes come from etcd."""
        raise NotImplementedError("an etcd watch receives changes from etcd only")

    def end(self) -> None:
        """No more changes will be handed out (the store closed or the watch was closed)."""
        self._ended = True
        if self._reading is not None:
            self._reading.cancel()

    def close(self) -> None:
        """Unregister; iteration ends (use `aclose` to also close the stream at once)."""
        self._on_close(self)
        self.end()

    async def aclose(self) -> None:
        """Unregister and close the HTTP stream."""
        self.close()
        await self._drop_stream()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def __anext__(self) -> Change:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._ended:
                await self._drop_stream()
                raise StopAsyncIteration
            if self._lagged:
                raise WatchLagged(
                    f"watch on {self.prefix!r}: {self._store.describe()} has compacted past "
                    f"revision {self.next_revision}"
                )
            with trio.CancelScope() as scope:
                self._reading = scope
                try:
                    await self._receive_more()
                finally:
                    self._reading = None

    async def _receive_more(self) -> None:
        """Read one stream message into `_pending`, reconnecting (after a pause) if needed."""
        try:
            if self._stream is None:
                self._stream = await self._store._gateway.open_watch(
                    {"create_request": {**self._request, "start_revision": str(self.next_revision)}}
                )
            message = await self._stream.next_message()
        except MetadataError as exc:
            await self._drop_stream()
            await self._pause(exc)
            return
        except BaseException:
            # Cancelled mid-read, perhaps mid-line: start over from next_revision.
            await self._drop_stream()
            raise
        if message is None:
            await self._drop_stream()
            await self._pause(MetadataError("the stream ended"))
            return
        if "error" in message:
            await self._drop_stream()
            await self._pause(MetadataError(f"the stream broke: {message['error']}"))
            return
        result = message.get("result") or {}
        self._store._gateway.saw_revision(result.get("header"))
        if result.get("canceled"):
            await self._drop_stream()
            if int(result.get("compact_revision", 0)) > 0:
                self._lagged = True
                return
            reason = result.get("cancel_reason") or "no reason given"
            await self._pause(MetadataError(f"etcd cancelled the watch ({reason})"))
            return
        if result.get("created"):
            self._retry_delay = WATCH_RETRY_FIRST
        changes = [self._change(event) for event in result.get("events") or []]
        if changes:
            self._pending.extend(changes)
            self.next_revision = changes[-1].version + 1

    def _change(self, event: JsonObject) -> Change:
        kv = event["kv"]
        store = self._store
        value = None if event.get("type") == "DELETE" else store._value_of(kv)
        return Change(store._key_of(kv), value, int(kv["mod_revision"]))

    async def _pause(self, exc: MetadataError) -> None:
        delay = self._retry_delay
        self._retry_delay = min(WATCH_RETRY_MAX, delay * 2)
        log_retry(f"watch on {self.prefix!r} at {self._store.describe()}", exc, delay)
        await trio.sleep(delay)

    async def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()


def _encode(value: JsonObject) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _mod_revision_is(key_b64: str, version: int) -> JsonObject:
    return {"key": key_b64, "target": "MOD", "result": "EQUAL", "mod_revision": str(version)}


def _lease_error(exc: EtcdError, lease: int) -> MetadataError:
    if exc.code == GRPC_NOT_FOUND:
        return LeaseExpired(f"lease {lease} has expired ({exc})")
    return exc
