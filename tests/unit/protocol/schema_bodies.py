"""Message bodies generated from the codec's own schemas: a hypothesis strategy per
(struct, version) and a seeded random generator for volume work (the fuzz test)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from client.protocol import SUPPORTED_VERSIONS, ApiKey
from client.protocol.messages import SCHEMAS
from client.protocol.messages.produce import RILLET_TAG
from client.protocol.schema import SCALAR_LIMITS, Array, Field, FieldType, Struct


def api_versions() -> Iterator[tuple[ApiKey, int]]:
    """Every (api, version) the codec claims to implement."""
    for api_key, (low, high) in sorted(SUPPORTED_VERSIONS.items()):
        for version in range(low, high + 1):
            yield api_key, version


def message_struct(api_key: ApiKey, request: bool) -> Struct:
    """The request or response struct of an API."""
    schema = SCHEMAS[api_key]
    return schema.request if request else schema.response


def kafka_fields(struct: Struct) -> Struct:
    """``struct`` without the fields only Rillet brokers exchange (no other implementation
    knows them)."""

    def strip(t: FieldType) -> FieldType:
        if isinstance(t, Struct):
            return kafka_fields(t)
        if isinstance(t, Array):
            return Array(strip(t.element))
        return t

    return Struct(tuple(
        replace(f, type=strip(f.type)) for f in struct.fields if f.tag != RILLET_TAG
    ))


def kafka_values(body: Any, t: FieldType) -> Any:
    """A decoded ``body`` of type ``t`` without the Rillet-only fields (which the decoder
    fills with their defaults when they were not sent)."""
    if body is None:
        return None
    if isinstance(t, Array):
        return [kafka_values(item, t.element) for item in body]
    if isinstance(t, Struct):
        return {
            f.name: kafka_values(body[f.name], f.type)
            for f in t.fields
            if f.tag != RILLET_TAG and f.name in body
        }
    return body


# --- hypothesis ----------------------------------------------------------------------------


def _type_strategy(t: FieldType, version: int) -> st.SearchStrategy[Any]:
    if isinstance(t, Struct):
        return body_strategy(t, version)
    if isinstance(t, Array):
        return st.lists(_type_strategy(t.element, version), max_size=3)
    if t in SCALAR_LIMITS:
        low, high = SCALAR_LIMITS[t]
        return st.integers(low, high)
    if t == "bool":
        return st.booleans()
    if t == "float64":
        return st.floats(allow_nan=False)
    if t == "string":
        return st.text(max_size=12)
    if t in ("bytes", "records"):
        return st.binary(max_size=24)
    if t == "uuid":
        return st.uuids()
    raise AssertionError(f"no strategy for {t!r}")


def _field_strategy(f: Field, version: int) -> st.SearchStrategy[Any]:
    strategy = _type_strategy(f.type, version)
    if f.nullable_in(version) or (f.tagged_in(version) and isinstance(f.type, Struct)):
        strategy = st.none() | strategy
    return strategy


def body_strategy(struct: Struct, version: int) -> st.SearchStrategy[dict]:
    """Dicts holding every field of ``struct`` at ``version``, any legal value."""
    return st.fixed_dictionaries(
        {f.name: _field_strategy(f, version) for f in struct.fields if f.present_in(version)}
    )


# --- seeded random -------------------------------------------------------------------------

_EDGE_INTS = (0, 1, -1)


def _random_value(t: FieldType, version: int, rng: random.Random, nullable: bool) -> Any:
    if nullable and rng.random() < 0.15:
        return None
    if isinstance(t, Struct):
        return random_body(t, version, rng)
    if isinstance(t, Array):
        return [_random_value(t.element, version, rng, False) for _ in range(rng.randrange(3))]
    if t in SCALAR_LIMITS:
        low, high = SCALAR_LIMITS[t]
        if rng.random() < 0.3:
            return rng.choice((*_EDGE_INTS[: 2 if low == 0 else 3], low, high))
        return rng.randint(low, high)
    if t == "bool":
        return rng.random() < 0.5
    if t == "float64":
        return rng.uniform(-1e9, 1e9)
    if t == "string":
        return "".join(rng.choice("abcxyz-._é") for _ in range(rng.randrange(10)))
    if t in ("bytes", "records"):
        return rng.randbytes(rng.randrange(20))
    if t == "uuid":
        return uuid.UUID(int=rng.getrandbits(128))
    raise AssertionError(f"no generator for {t!r}")


def random_body(struct: Struct, version: int, rng: random.Random) -> dict:
    """A body with every field of ``struct`` at ``version``, drawn from ``rng``."""
    return {
        f.name: _random_value(
            f.type,
            version,
            rng,
            f.nullable_in(version) or (f.tagged_in(version) and isinstance(f.type, Struct)),
        )
        for f in struct.fields
        if f.present_in(version)
    }
