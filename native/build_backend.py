"""PEP 517 build backend: setuptools, after generating the cffi extension source.

cffi's API mode turns ``native/ffi_build.py`` (the C declarations) into one C
file; setuptools then compiles it with the sources under ``native/src`` as the
extension ``native._rillet`` (see ``[tool.setuptools] ext-modules`` in
pyproject.toml).  Generating first and delegating everything else keeps the
build a plain ``pip install`` with no setup.py and no manual step.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig

from setuptools import build_meta as _setuptools

# Re-export every hook we do not wrap.
from setuptools.build_meta import *  # noqa: F401,F403

_HERE = os.path.dirname(os.path.abspath(__file__))


def _generate() -> None:
    sys.path.insert(0, _HERE)
    try:
        import ffi_build  # type: ignore[import-not-found]
    finally:
        sys.path.remove(_HERE)
    ffi_build.emit()


def _check_toolchain() -> None:
    """Fail with one clear message, before setuptools' own, when C cannot be compiled."""
    if os.name == "nt":  # MSVC is found by setuptools itself
        return
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    program = shlex.split(compiler)[0]
    problem = None
    if shutil.which(program) is None:
        problem = f"no C compiler: {program!r} was not found (set CC, or install gcc or clang)"
    elif not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        problem = "the Python development headers (Python.h) are missing"
    if problem:
        message = (
            f"Rillet's native core (native/) is C and must be compiled at install time: {problem}. "
            "On Debian/Ubuntu: apt-get install build-essential python3-dev."
        )
        print(f"error: {message}", file=sys.stderr)
        raise RuntimeError(message)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    _check_toolchain()
    _generate()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    _check_toolchain()
    _generate()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):  # type: ignore[no-untyped-def]
    _generate()
    return _setuptools.build_sdist(sdist_directory, config_settings)
