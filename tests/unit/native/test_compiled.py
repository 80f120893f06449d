"""The compiled core is the one under test: a silently missing extension must fail the run."""

from __future__ import annotations

import platform

import native
from native import compiled, twins

PUBLIC = (
    "crc32c",
    "scan_batches",
    "assign_offsets",
    "offset_index_lookup",
    "time_index_lookup",
    "encode_records",
    "decode_records",
    "slices_format",
)


def test_extension_loaded() -> None:
    assert native.COMPILED
    native.require_compiled()


def test_public_functions_are_the_compiled_ones() -> None:
    for name in PUBLIC:
        function = getattr(native, name)
        assert function is getattr(compiled, name), name
        assert function is not getattr(twins, name), name
        assert function.__module__ == "native.compiled"


def test_hardware_crc_used_when_the_cpu_has_it() -> None:
    if platform.machine() not in ("x86_64", "AMD64"):
        assert native.HARDWARE_CRC is False
        return
    with open("/proc/cpuinfo") as cpuinfo:
        has_sse42 = "sse4_2" in cpuinfo.read()
    assert native.HARDWARE_CRC is has_sse42
