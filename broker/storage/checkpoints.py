"""Small files written atomically, and Kafka's text checkpoint formats.

Every file here is written as temp file -> fsync -> rename -> fsync of the
directory, so after a crash a reader finds the old contents or the new, never a
mix.  Kafka's offset checkpoints (``recovery-point-offset-checkpoint``,
``replication-offset-checkpoint``, ``log-start-offset-checkpoint``) are::

    0                      version
    2                      number of entries
    my-topic 0 1234        topic partition offset
    my-topic 1 98

and ``leader-epoch-checkpoint`` is the same with ``epoch start-offset`` lines.
A file that does not parse raises ``CorruptFileError``; the caller decides
whether to rebuild or start from nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from broker.storage.errors import CorruptFileError

CHECKPOINT_VERSION = 0


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so renames and unlinks inside it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync directory.

    ``durable=False`` skips both fsyncs (for files that can be rebuilt and are
    validated when read, such as producer snapshots written on the append path).
    """
    path = os.fspath(path)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(os.path.dirname(path) or ".")


def _parse_lines(path: str | os.PathLike[str], fields: int) -> list[list[str]]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise CorruptFileError(f"{path}: not UTF-8 text") from None
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise CorruptFileError(f"{path}: missing version or entry count")
    if lines[0].strip() != str(CHECKPOINT_VERSION):
        raise CorruptFileError(f"{path}: unknown version {lines[0][:20]!r}")
    try:
        count = int(lines[1])
    except ValueError:
        raise CorruptFileError(f"{path}: bad entry count {lines[1][:20]!r}") from None
    body = lines[2:]
    if count != len(body):
        raise CorruptFileError(f"{path}: expected {count} entries, found {len(body)}")
    rows = []
    for number, line in enumerate(body, start=3):
        parts = line.split(" ")
        if len(parts) != fields:
            raise CorruptFileError(f"{path} line {number}: expected {fields} fields")
        rows.append(parts)
    return rows


def _render(rows: Iterable[str]) -> bytes:
    items = list(rows)
    return "\n".join([str(CHECKPOINT_VERSION), str(len(items)), *items, ""]).encode()


def read_offset_checkpoint(path: str | os.PathLike[str]) -> dict[tuple[str, int], int]:
    """``{(topic, partition): offset}`` from a Kafka offset checkpoint; {} if the file is missing.

    Raises CorruptFileError for a file that exists but does not parse.
    """
    try:
        rows = _parse_lines(path, 3)
    except FileNotFoundError:
        return {}
    out = {}
    for topic, partition, offset in rows:
        try:
            out[(topic, int(partition))] = int(offset)
        except ValueError:
            raise CorruptFileError(f"{path}: bad number in {topic} {partition} {offset}") from None
    return out


def write_offset_checkpoint(
    path: str | os.PathLike[str], offsets: Mapping[tuple[str, int], int]
) -> None:
    """Write ``{(topic, partition): offset}`` in Kafka's offset checkpoint format, atomically."""
    rows = (f"{t} {p} {o}" for (t, p), o in sorted(offsets.items()))
    write_atomically(path, _render(rows))


def read_epoch_checkpoint(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """``[(epoch, start_offset)]`` from a leader-epoch-checkpoint; FileNotFoundError if missing."""
    rows = _parse_lines(path, 2)
    try:
        entries = [(int(epoch), int(offset)) for epoch, offset in rows]
    except ValueError:
        raise CorruptFileError(f"{path}: bad number") from None
    for (e1, o1), (e2, o2) in zip(entries, entries[1:], strict=False):
        if e2 <= e1 or o2 < o1:
            raise CorruptFileError(f"{path}: epochs or offsets not increasing")
    return entries


def write_epoch_checkpoint(
    path: str | os.PathLike[str], entries: Iterable[tuple[int, int]]
) -> None:
    """Write ``[(epoch, start_offset)]`` as a leader-epoch-checkpoint, atomically."""
    write_atomically(path, _render(f"{e} {o}" for e, o in entries))


def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """A Java-style ``key=value`` properties file (``#`` comments); FileNotFoundError if missing."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise CorruptFileError(f"{path}: line without '=': {line[:40]!r}")
        out[key.strip()] = value.strip()
    return out


def write_properties(path: str | os.PathLike[str], props: Mapping[str, str], comment: str) -> None:
    """Write a ``key=value`` properties file atomically, with a leading comment line."""
    body = [f"#{comment}", *(f"{k}={v}" for k, v in props.items()), ""]
    write_atomically(path, "\n".join(body).encode())
