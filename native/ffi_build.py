"""cffi declarations of the native core (API mode, out-of-line).

``emit()`` writes ``native/_generated/_rillet.c``; setuptools compiles it
together with ``native/src/*.c`` into ``native._rillet``.  Every function
declared here has a pure-Python twin in ``native/twins.py``.
"""

from __future__ import annotations

import os

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len);
int rl_crc32c_hw(void);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("native._rillet", '#include "rillet.h"')


def emit() -> str:
    """Write the generated C source and return its path."""
    out_dir = os.path.join(HERE, "_generated")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "_rillet.c")
    ffibuilder.emit_c_code(path)
    return path


if __name__ == "__main__":
    print(emit())
