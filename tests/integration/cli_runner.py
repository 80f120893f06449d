"""Running the ``rillet`` command line as a user does, and reading its tables back.

``rillet(broker, *args)`` runs ``python -m broker.cli ARGS --bootstrap ...`` in a subprocess
(wide terminal, so rich does not wrap tables) and returns the completed process.
``table_rows(text, title)`` turns one rich table of the output into a list of dicts.
"""

from __future__ import annotations

import os
import subprocess
import sys

from harness.broker import ROOT, BrokerProcess

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
ENV.pop("RILLET_BOOTSTRAP", None)


def rillet(
    broker: BrokerProcess | None,
    *args: str,
    stdin: bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with ``args`` (plus ``--bootstrap`` for ``broker``); output as bytes."""
    command = [sys.executable, "-m", "broker.cli", *args]
    if broker is not None:
        command += ["--bootstrap", broker.bootstrap]
    return subprocess.run(
        command,
        cwd=ROOT,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=env or ENV,
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    """The stdout of a run that must have succeeded (stderr shown otherwise)."""
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single stderr line of a run that failed with status 1, without a traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("rillet: ")
    return lines[0]


def _cells(line: str) -> list[str]:
    bar = "│" if "│" in line else "┃"
    return [cell.strip() for cell in line.strip().strip(bar).split(bar)]


def table_rows(text: str, title: str | None = None) -> list[dict[str, str]]:
    """The rows of the first boxed table after the line ``title`` (or the first table);
    no rows where the output says ``(none)`` instead."""
    lines = text.splitlines()
    start = 0
    if title is not None:
        start = next(
            i for i, line in enumerate(lines) if line.strip() in (title, f"{title}: (none)")
        )
        if lines[start].strip().endswith("(none)"):
            return []
        start += 1
    elif lines and lines[0].strip() == "(none)":
        return []
    header_at = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("┃"))
    columns = _cells(lines[header_at])
    rows = []
    for line in lines[header_at + 2:]:
        if not line.lstrip().startswith("│"):
            break
        rows.append(dict(zip(columns, _cells(line), strict=True)))
    return rows


def mapping(text: str, title: str) -> dict[str, str]:
    """The name/value pairs of the borderless table under the line ``title``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 1
    out = {}
    for line in lines[start:]:
        if not line.strip():
            break
        name, _, value = line.strip().rpartition("  ")
        out[name.strip()] = value.strip()
    return out
