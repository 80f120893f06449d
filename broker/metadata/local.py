"""The `local` metadata backend: the whole store in one JSON file, rewritten atomically.

File: `<first log dir>/rillet-metadata.json`, holding the store revision and every key with its
value and version. Each successful write replaces the file (temporary file, fsync, rename,
fsync of the directory) in a worker thread before the write becomes visible or is delivered to
watchers, so a crash at any moment leaves either the old or the new file, and revisions (hence
versions and everything derived from them) never go back after a restart.

Rewriting the whole file per change is fine for one node's metadata (topics and partition
states, written on creation and on leadership or ISR changes, not per record); the writes of
one `compare_and_set_many` (a new topic's partitions) share one rewrite.

One task at a time may write (a trio lock); reads never wait for disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
import trio

from broker.metadata.store import (
    Change,
    JsonObject,
    MetadataError,
    MetadataStore,
    Versioned,
    Watch,
)

FILE_NAME = "rillet-metadata.json"
FORMAT = 1
WATCH_CAPACITY = 10_000


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _encode_entry(key: str, value_json: str, version: int) -> str:
    return f'{json.dumps(key)}: {{"value": {value_json}, "version": {version}}}'


class LocalMetadataStore(MetadataStore):
    """MetadataStore persisted in one file; open with `await LocalMetadataStore.open(dir)`."""

    def __init__(self, path: Path, revision: int, entries: dict[str, Versioned]) -> None:
        self.path = path
        self._revision = revision
        self._entries = entries
        self._encoded = {
            key: _encode_entry(key, json.dumps(item.value, sort_keys=True), item.version)
            for key, item in entries.items()
        }
        self._lock = trio.Lock()
        self._watches: list[Watch] = []
        self._closed = False

    @classmethod
    async def open(cls, directory: str | os.PathLike[str]) -> LocalMetadataStore:
        """Load the store from `directory` (created if missing); a new store starts empty."""
        path = Path(directory) / FILE_NAME
        return await trio.to_thread.run_sync(cls._load, path)

    @classmethod
    def _load(cls, path: Path) -> LocalMetadataStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, 0, {})
        except OSError as exc:
            raise MetadataError(f"{path}: cannot read metadata ({exc.strerror})") from None
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            entries = {
                key: Versioned(item["value"], int(item["version"]))
                for key, item in doc["entries"].items()
            }
            revision = int(doc["revision"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MetadataError(f"{path}: corrupt metadata file ({exc})") from None
        return cls(path, revision, entries)

    @property
    def revision(self) -> int:
        """The revision of the last write (0 for a new store)."""
        return self._revision

    async def get(self, key: str) -> Versioned | None:
        """The key's value and version, or None when absent."""
        self._check_open()
        return self._entries.get(key)

    async def list(self, prefix: str) -> tuple[dict[str, Versioned], int]:
        """Every key starting with `prefix`, and the store revision."""
        self._check_open()
        found = {k: v for k, v in self._entries.items() if k.startswith(prefix)}
        return found, self._revision

    async def compare_and_set(
        self, key: str, expected_version: int, new: JsonObject | None
    ) -> bool:
        """Write or delete `key` if its version is `expected_version`; durable on True."""
        return (await self.compare_and_set_many([(key, expected_version, new)]))[0]

    async def compare_and_set_many(
        self, writes: Sequence[tuple[str, int, JsonObject | None]]
    ) -> list[bool]:
        """Each `compare_and_set` in order, all made durable by one rewrite of the file."""
        async with self._lock:
            self._check_open()
            entries = dict(self._entries)
            encoded = dict(self._encoded)
            revision = self._revision
            outcomes = []
            changes = []
            for key, expected_version, new in writes:
                current = entries.get(key)
                if (current.version if current else 0) != expected_version or (
                    new is None and current is None
                ):
                    outcomes.append(False)
                    continue
                revision += 1
                if new is None:
                    del entries[key]
                    del encoded[key]
                    changes.append(Change(key, None, revision))
                else:
                    # A private copy, so later changes to the caller's dict cannot leak in.
                    text = json.dumps(new, sort_keys=True)
                    entries[key] = Versioned(json.loads(text), revision)
                    encoded[key] = _encode_entry(key, text, revision)
                    changes.append(Change(key, entries[key].value, revision))
                outcomes.append(True)
            if not changes:
                return outcomes
            data = self._serialize(revision, encoded)
            try:
                await trio.to_thread.run_sync(_write_atomically, self.path, data)
            except OSError as exc:
                raise MetadataError(f"{self.path}: cannot write metadata ({exc})") from None
            self._entries = entries
            self._encoded = encoded
            self._revision = revision
            for change in changes:
                for watch in list(self._watches):
                    if change.key.startswith(watch.prefix):
                        watch.deliver(change)
            return outcomes

    @staticmethod
    def _serialize(revision: int, encoded: dict[str, str]) -> bytes:
        """The file: one entry per line, keys sorted; every entry's text is encoded once, when
        written, so a write costs a join rather than re-encoding the whole store."""
        body = ",\n".join(encoded[key] for key in sorted(encoded))
        return (
            f'{{"entries": {{\n{body}\n}},\n"format": {FORMAT},\n"revision": {revision}\n}}\n'
        ).encode()

    def watch(self, prefix: str) -> Watch:
        """Register a watch on keys starting with `prefix`."""
        self._check_open()
        watch = Watch(prefix, WATCH_CAPACITY, self._unregister)
        self._watches.append(watch)
        return watch

    def _unregister(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)

    async def aclose(self) -> None:
        """Close the store; watches end; later calls raise MetadataError."""
        async with self._lock:
            self._closed = True
            for watch in self._watches:
                watch.end()
            self._watches.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise MetadataError("the metadata store is closed")
