"""The declarative language the message schemas are written in.

A message is a :class:`Struct` of :class:`Field` s. A field names its wire type, the
versions it exists in, the versions in which it may be null, an optional tag (tagged fields
live in the trailing tag section of flexible versions) and a default. Version ranges use the
notation of Kafka's message definitions: ``"3+"``, ``"0-4"``, ``"7"``, ``"none"``.

Types are plain values: the scalar names in :data:`SCALARS`, ``"string"``, ``"bytes"``,
``"records"``, ``"uuid"``, an :class:`Array` of any type, or a nested :class:`Struct`. The
compiler (``client.protocol.compiler``) turns a struct at one version into an encoder and a
decoder; nothing in this module runs at encode or decode time.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Union

from client.protocol.primitives import ZERO_UUID

MAX_VERSION = 0x7FFF

# Fixed-width types and their struct format characters.
SCALARS: dict[str, str] = {
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint16": "H",
    "uint32": "I",
    "float64": "d",
    "bool": "?",
}
VARINTS = frozenset({"varint", "varlong"})
SCALAR_LIMITS: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "varint": (-(2**31), 2**31 - 1),
    "varlong": (-(2**63), 2**63 - 1),
}
LEAF_TYPES = frozenset(SCALARS) | VARINTS | {"string", "bytes", "records", "uuid"}


@dataclass(frozen=True)
class Array:
    """An array of ``element`` (a leaf type name or a Struct)."""

    element: FieldType


@dataclass(frozen=True)
class Struct:
    """An ordered group of fields; the top of every request and response."""

    fields: tuple[Field, ...]


FieldType = Union[str, Array, Struct]


def parse_versions(spec: str) -> tuple[int, int] | None:
    """``"3+"`` -> (3, MAX), ``"0-4"`` -> (0, 4), ``"7"`` -> (7, 7), ``"none"`` -> None."""
    if spec == "none":
        return None
    if spec.endswith("+"):
        return int(spec[:-1]), MAX_VERSION
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo), int(hi)
    return int(spec), int(spec)


def _within(span: tuple[int, int] | None, version: int) -> bool:
    return span is not None and span[0] <= version <= span[1]


_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Field:
    """One field of a struct; see the module docstring. Build with :func:`field`."""

    name: str
    type: FieldType
    versions: tuple[int, int]
    nullable_versions: tuple[int, int] | None = None
    tag: int | None = None
    tagged_versions: tuple[int, int] | None = None
    explicit_default: Any = dc_field(default=_NO_DEFAULT, compare=False)

    def present_in(self, version: int) -> bool:
        """Whether the field exists at this version."""
        return _within(self.versions, version)

    def nullable_in(self, version: int) -> bool:
        """Whether null is a legal value at this version."""
        return _within(self.nullable_versions, version)

    def tagged_in(self, version: int) -> bool:
        """Whether the field travels in the tag section at this version."""
        return self.tag is not None and _within(self.tagged_versions, version)

    def default_for(self, version: int) -> Any:
        """The value an absent field takes: Kafka's stated default, else null when nullable,
        else the type's zero (0, False, "", b"", [], the zero UUID, a struct of defaults)."""
        if self.explicit_default is not _NO_DEFAULT:
            return self.explicit_default
        if self.nullable_in(version):
            return None
        t = self.type
        if isinstance(t, Array):
            return []
        if isinstance(t, Struct):
            # A tagged struct that was not sent is reported as None.
            if self.tagged_in(version):
                return None
            return {f.name: f.default_for(version) for f in t.fields if f.present_in(version)}
        if t == "bool":
            return False
        if t == "float64":
            return 0.0
        if t == "string":
            return ""
        if t == "bytes":
            return b""
        if t == "records":
            return None
        if t == "uuid":
            return ZERO_UUID
        return 0


def field(
    name: str,
    type_: FieldType,
    versions: str = "0+",
    *,
    nullable: str = "none",
    tag: int | None = None,
    tagged: str | None = None,
    default: Any = _NO_DEFAULT,
) -> Field:
    """Declare a field. ``tagged`` defaults to ``versions`` when a ``tag`` is given."""
    span = parse_versions(versions)
    if span is None:
        raise ValueError(f"field {name} exists in no version")
    if isinstance(type_, str) and type_ not in LEAF_TYPES:
        raise ValueError(f"field {name}: unknown type {type_!r}")
    tagged_span = None
    if tag is not None:
        tagged_span = parse_versions(tagged if tagged is not None else versions)
    return Field(name, type_, span, parse_versions(nullable), tag, tagged_span, default)


def struct(*fields: Field) -> Struct:
    """Declare a struct from its fields, in wire order."""
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate field names in {names}")
    return Struct(tuple(fields))


def array(element: FieldType) -> Array:
    """Declare an array type."""
    return Array(element)


@dataclass(frozen=True)
class MessageSchema:
    """Request and response structs of one API."""

    request: Struct
    response: Struct
