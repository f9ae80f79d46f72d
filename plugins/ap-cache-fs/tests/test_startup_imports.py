"""A run the cache serves starts light: no rich, no pydantic-settings, no numpy (with ap-cache-fs installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STARTUP = ("structlog", "rich", "pydantic", "pydantic_settings", "stevedore", "numpy")
RUN = """
import sys
from audio_playground.cli import run
code = run({args!r})
print(code, ",".join(sorted(m for m in {names!r} if m in sys.modules)))
"""


def _imports(args: list[str], cwd: Path, **env: str) -> tuple[str, list[str]]:
    """(exit code, which of STARTUP got imported) of one CLI run in a fresh process with every plugin."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(args=args, names=STARTUP)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        check=True,
    )
    code, _, names = result.stdout.strip().splitlines()[-1].partition(" ")
    return code, [n for n in names.split(",") if n]


def test_a_cached_split_imports_neither_rich_nor_pydantic_settings_nor_numpy(tmp_path: Path, song: Path) -> None:
    args = ["--cache-dir", str(tmp_path / "c"), "segment", "split", "--src", str(song), "--output-dir", "seg"]
    _imports(args, tmp_path)  # fills the cache
    code, imported = _imports(args, tmp_path)
    assert code == "0"
    assert imported == ["pydantic", "structlog"]  # a line is written; the config is validated
    # A layer of settings brings pydantic-settings in, and only then.
    code, imported = _imports(args, tmp_path, AUDIO_PLAYGROUND_WINDOW_SIZE="10")
    assert "pydantic_settings" in imported and "numpy" not in imported
