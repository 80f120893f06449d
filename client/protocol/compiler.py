"""Turns a schema struct at one version into an encoder and a decoder.

Compiling walks the schema once and returns closures; encoding or decoding a message then
runs only those closures, with no per-call look-ups in the schema. Consecutive fixed-width
fields are fused into one ``struct.Struct``, and arrays of fixed-width values are packed or
unpacked in one call, so the common case costs one C call per run of fields.

An encoder is ``encode(out: bytearray, body: dict) -> None``; a decoder is
``decode(buf: memoryview, pos: int) -> (dict, pos)``. Absent keys encode as the field's
default; keys the version does not have are ignored. Decoded dicts hold exactly the fields of
the version, tagged ones included (with their default when not sent).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from client.protocol import primitives as p
from client.protocol.errors import LocalProtocolError, RemoteProtocolError
from client.protocol.schema import SCALARS, Array, Field, FieldType, Struct

Encoder = Callable[[bytearray, Any], None]
Decoder = Callable[[memoryview, int], tuple[Any, int]]
_Step = Callable[[bytearray, dict], None]
_DStep = Callable[[memoryview, int, dict], int]

# Records at least this long are handed out as their own chunk by a ChunkedOut buffer.
ZERO_COPY_THRESHOLD = 1024


def value_size(value: Any) -> int:
    """Bytes a passed-through ``records`` value puts on the wire (a buffer or a file slice)."""
    try:
        return memoryview(value).nbytes
    except TypeError:
        return len(value)


class ChunkedOut(bytearray):
    """An output buffer that records where large ``records`` values belong instead of
    copying them; ``chunks()`` yields the final list of buffers in wire order.

    A ``records`` value need not be a buffer: any sized object that is not one (a slice of a
    file, for sendfile) is passed through as its own chunk, for the writer to send.
    """

    def __init__(self) -> None:
        super().__init__()
        self.splits: list[tuple[int, Any]] = []

    def chunks(self) -> list[bytes | memoryview]:
        """The encoded message as buffers: our own bytes interleaved with passed-through
        records values."""
        result: list[bytes | memoryview] = []
        start = 0
        view = memoryview(self)
        for at, value in self.splits:
            if at > start:
                result.append(bytes(view[start:at]))
            result.append(value)
            start = at
        if start < len(self):
            result.append(bytes(view[start:]))
        view.release()
        return result


_FIXED_READERS: dict[str, p.Reader] = {
    "int8": p.read_int8,
    "int16": p.read_int16,
    "int32": p.read_int32,
    "int64": p.read_int64,
    "uint16": p.read_uint16,
    "uint32": p.read_uint32,
    "float64": p.read_float64,
    "bool": p.read_bool,
    "varint": p.read_varint,
    "varlong": p.read_varlong,
    "uuid": p.read_uuid,
}
_FIXED_WRITERS: dict[str, p.Writer] = {
    "int8": p.write_int8,
    "int16": p.write_int16,
    "int32": p.write_int32,
    "int64": p.write_int64,
    "uint16": p.write_uint16,
    "uint32": p.write_uint32,
    "float64": p.write_float64,
    "bool": p.write_bool,
    "varint": p.write_varint,
    "varlong": p.write_varlong,
    "uuid": p.write_uuid,
}


# --- types ---------------------------------------------------------------------------------


def _records_writer(compact: bool, nullable: bool) -> p.Writer:
    write_len = p.records_length_writer(compact)

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            if not nullable:
                raise LocalProtocolError("null given for non-nullable records")
            write_len(out, -1)
            return
        try:
            n = memoryview(value).nbytes
        except TypeError:
            # Not a buffer: a slice of a file, sent by the writer (sendfile) — only a
            # chunked encoding can carry it.
            if type(out) is not ChunkedOut:
                raise LocalProtocolError(
                    f"records of type {type(value).__name__} need a chunked encoding"
                ) from None
            n = len(value)
            write_len(out, n)
            out.splits.append((len(out), value))
            return
        write_len(out, n)
        if type(out) is ChunkedOut and n >= ZERO_COPY_THRESHOLD:
            out.splits.append((len(out), value))
        else:
            out += value

    return write


def _type_writer(t: FieldType, version: int, flexible: bool, nullable: bool) -> p.Writer:
    if isinstance(t, Struct):
        return compile_encoder(t, version, flexible)
    if isinstance(t, Array):
        return _array_writer(t, version, flexible, nullable)
    if t == "string":
        return p.string_writer(flexible, nullable)
    if t == "bytes":
        return p.bytes_writer(flexible, nullable)
    if t == "records":
        return _records_writer(flexible, nullable)
    return _FIXED_WRITERS[t]


def _type_reader(t: FieldType, version: int, flexible: bool, nullable: bool) -> p.Reader:
    if isinstance(t, Struct):
        return compile_decoder(t, version, flexible)
    if isinstance(t, Array):
        return _array_reader(t, version, flexible, nullable)
    if t == "string":
        return p.string_reader(flexible, nullable)
    if t == "bytes":
        return p.bytes_reader(flexible, nullable)
    if t == "records":
        return p.bytes_reader(flexible, nullable, view=True)
    return _FIXED_READERS[t]


def _array_writer(t: Array, version: int, flexible: bool, nullable: bool) -> p.Writer:
    write_count = p.array_count_writer(flexible)
    elem = t.element
    if isinstance(elem, str) and elem in SCALARS:
        code = SCALARS[elem]

        def write_fixed(out: bytearray, value: Any) -> None:
            if value is None:
                if not nullable:
                    raise LocalProtocolError("null given for a non-nullable array")
                write_count(out, -1)
                return
            write_count(out, len(value))
            out += struct.pack(f">{len(value)}{code}", *value)

        return write_fixed
    write_elem = _type_writer(elem, version, flexible, nullable=False)

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            if not nullable:
                raise LocalProtocolError("null given for a non-nullable array")
            write_count(out, -1)
            return
        write_count(out, len(value))
        for item in value:
            write_elem(out, item)

    return write


def min_wire_size(t: FieldType, version: int, flexible: bool) -> int:
    """The fewest bytes a value of type ``t`` can take on the wire (at least 1)."""
    if isinstance(t, Struct):
        regular, _ = _split(t, version, flexible)
        size = sum(min_wire_size(f.type, version, flexible) for f in regular)
        return max(1, size + (1 if flexible else 0))
    if isinstance(t, Array) or t in ("bytes", "records"):
        return 1 if flexible else 4
    if t == "string":
        return 1 if flexible else 2
    if t == "uuid":
        return 16
    if t in SCALARS:
        return struct.calcsize(">" + SCALARS[t])
    return 1  # varints


def _array_reader(t: Array, version: int, flexible: bool, nullable: bool) -> p.Reader:
    read_count = p.array_count_reader(flexible)
    elem = t.element
    elem_size = min_wire_size(elem, version, flexible)

    def read_header(buf: memoryview, pos: int) -> tuple[int, int]:
        n, pos = read_count(buf, pos)
        if n < 0 and not (nullable and n == -1):
            raise RemoteProtocolError(f"invalid array length {n}")
        # Checked before any element is built: a count the remaining bytes cannot hold,
        # even with every element at its smallest, is a lie.
        if n * elem_size > len(buf) - pos:
            raise RemoteProtocolError(
                f"array declares {n} elements of at least {elem_size} bytes but "
                f"{len(buf) - pos} bytes remain in the frame"
            )
        return n, pos

    if isinstance(elem, str) and elem in SCALARS:
        code = SCALARS[elem]
        width = struct.calcsize(">" + code)

        def read_fixed(buf: memoryview, pos: int) -> tuple[list | None, int]:
            n, pos = read_header(buf, pos)
            if n < 0:
                return None, pos
            size = n * width
            if pos + size > len(buf):
                raise RemoteProtocolError(f"array of {n} {elem} runs past the end of the frame")
            return list(struct.unpack_from(f">{n}{code}", buf, pos)), pos + size

        return read_fixed
    read_elem = _type_reader(elem, version, flexible, nullable=False)

    def read(buf: memoryview, pos: int) -> tuple[list | None, int]:
        n, pos = read_header(buf, pos)
        if n < 0:
            return None, pos
        items = []
        append = items.append
        for _ in range(n):
            item, pos = read_elem(buf, pos)
            append(item)
        return items, pos

    return read


# --- structs -------------------------------------------------------------------------------


def _split(st: Struct, version: int, flexible: bool) -> tuple[list[Field], list[Field]]:
    present = [f for f in st.fields if f.present_in(version)]
    tagged = [f for f in present if f.tagged_in(version)]
    if tagged and not flexible:
        raise ValueError(f"tagged fields {[f.name for f in tagged]} in a non-flexible version")
    regular = [f for f in present if not f.tagged_in(version)]
    return regular, sorted(tagged, key=lambda f: f.tag or 0)


def _runs(regular: list[Field]) -> list[list[Field]]:
    """Group consecutive fixed-width fields; every other field is a run of one."""
    runs: list[list[Field]] = []
    for f in regular:
        fixed = isinstance(f.type, str) and f.type in SCALARS
        if fixed and runs and _is_fixed_run(runs[-1]):
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def _fixed_format(run: list[Field]) -> struct.Struct:
    return struct.Struct(">" + "".join(SCALARS[f.type] for f in run))  # type: ignore[index]


def _is_fixed_run(run: list[Field]) -> bool:
    t = run[0].type
    return isinstance(t, str) and t in SCALARS


def compile_encoder(st: Struct, version: int, flexible: bool) -> Encoder:
    """Encoder of ``st`` at ``version``; flexible adds the tag section."""
    regular, tagged = _split(st, version, flexible)
    steps: list[_Step] = []
    for run in _runs(regular):
        if _is_fixed_run(run):
            packer = _fixed_format(run)
            names = tuple(f.name for f in run)
            defaults = tuple(f.default_for(version) for f in run)

            def fixed_step(
                out: bytearray, d: dict, pack: Any = packer.pack, names: Any = names,
                defaults: Any = defaults,
            ) -> None:
                out += pack(*map(d.get, names, defaults))

            steps.append(fixed_step)
        else:
            f = run[0]
            write = _type_writer(f.type, version, flexible, f.nullable_in(version))

            def field_step(
                out: bytearray, d: dict, write: p.Writer = write, name: str = f.name,
                default: Any = f.default_for(version),
            ) -> None:
                write(out, d.get(name, default))

            steps.append(field_step)
    if flexible:
        steps.append(_tag_section_writer(tagged, version))
    step_tuple = tuple(steps)

    def encode(out: bytearray, d: Any) -> None:
        for step in step_tuple:
            step(out, d)

    return encode


def _tag_section_writer(tagged: list[Field], version: int) -> _Step:
    if not tagged:

        def write_empty(out: bytearray, d: dict) -> None:
            out += b"\x00"

        return write_empty
    entries = tuple(
        (
            p.encode_uvarint(f.tag),  # type: ignore[arg-type]
            f.name,
            f.default_for(version),
            _type_writer(f.type, version, True, f.nullable_in(version)),
        )
        for f in tagged
    )

    def write_tags(out: bytearray, d: dict) -> None:
        found = []
        for tag_bytes, name, default, write in entries:
            value = d.get(name, default)
            if value != default:
                tmp = bytearray()
                write(tmp, value)
                found.append((tag_bytes, tmp))
        out += p.encode_uvarint(len(found))
        for tag_bytes, tmp in found:
            out += tag_bytes
            out += p.encode_uvarint(len(tmp))
            out += tmp

    return write_tags


def compile_decoder(st: Struct, version: int, flexible: bool) -> Decoder:
    """Decoder of ``st`` at ``version``; flexible reads (and checks) the tag section."""
    regular, tagged = _split(st, version, flexible)
    steps: list[_DStep] = []
    for run in _runs(regular):
        if _is_fixed_run(run):
            unpacker = _fixed_format(run)
            names = tuple(f.name for f in run)

            def fixed_step(
                buf: memoryview, pos: int, d: dict, unpack_from: Any = unpacker.unpack_from,
                names: Any = names, size: int = unpacker.size,
            ) -> int:
                d.update(zip(names, unpack_from(buf, pos)))
                return pos + size

            steps.append(fixed_step)
        else:
            f = run[0]
            read = _type_reader(f.type, version, flexible, f.nullable_in(version))

            def field_step(
                buf: memoryview, pos: int, d: dict, read: p.Reader = read, name: str = f.name
            ) -> int:
                d[name], pos = read(buf, pos)
                return pos

            steps.append(field_step)
    if flexible:
        steps.append(_tag_section_reader(tagged, version))
    step_tuple = tuple(steps)

    def decode(buf: memoryview, pos: int) -> tuple[dict, int]:
        d: dict = {}
        for step in step_tuple:
            pos = step(buf, pos, d)
        return d, pos

    return decode


def _tag_section_reader(tagged: list[Field], version: int) -> _DStep:
    known = {
        f.tag: (f.name, _type_reader(f.type, version, True, f.nullable_in(version)))
        for f in tagged
    }
    defaults = tuple((f.name, f.default_for(version)) for f in tagged)

    def read_tags(buf: memoryview, pos: int, d: dict) -> int:
        for name, default in defaults:
            d[name] = default
        count, pos = p.read_uvarint(buf, pos)
        if count == 0:
            return pos
        if count > len(buf) - pos:
            raise RemoteProtocolError(f"tag section declares {count} fields, more than fit")
        last = -1
        for _ in range(count):
            tag, pos = p.read_uvarint(buf, pos)
            if tag <= last:
                raise RemoteProtocolError(f"tagged field {tag} repeated or out of order")
            last = tag
            size, pos = p.read_uvarint(buf, pos)
            end = pos + size
            if end > len(buf):
                raise RemoteProtocolError(f"tagged field {tag} runs past the end of the frame")
            entry = known.get(tag)
            if entry is not None:
                name, read = entry
                d[name], used = read(buf[:end], pos)
                if used != end:
                    raise RemoteProtocolError(f"tagged field {tag} does not fill its {size} bytes")
            pos = end
        return pos

    return read_tags
