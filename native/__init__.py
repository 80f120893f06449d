"""Rillet's native core, compiled with cffi at install time (see native/ffi_build.py)."""

from __future__ import annotations

try:
    from native import _rillet  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _rillet = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

COMPILED = _rillet is not None


def require_compiled() -> None:
    """Raise ImportError, saying why, unless the compiled extension loaded."""
    if _rillet is None:
        raise ImportError(
            "the native core (native._rillet) is not built: run `pip install -e .` "
            f"with a C compiler available ({_IMPORT_ERROR})"
        )
