"""The README's configuration table is the one `rillet broker config-keys --markdown` prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_readme_lists_every_config_key_as_the_cli_does() -> None:
    table = subprocess.run(
        [sys.executable, "-m", "broker.cli", "broker", "config-keys", "--markdown"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert table.startswith("| key |")
    assert table in (ROOT / "README.md").read_text()
