"""Render the page: the inlined assets plus the report's data as JSON, written atomically as one HTML file.

The HTML shell holds no text from the user's disk: every name and setting travels in a JSON block (with
`<`, `>`, `&` and the JS line separators escaped) and the script puts it in the page with textContent only.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from audio_playground.errors import OutputError

ASSETS = ("report.html", "report.css", "report.js")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def asset(name: str) -> str:
    """One of the page's files, shipped as package data."""
    return resources.files("audio_playground.report").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no `</script>`, no `<!--`, no HTML at all."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(_JSON_ESCAPES.get(char, char) for char in text) if any(c in text for c in _JSON_ESCAPES) else text


def render(data: dict[str, Any]) -> str:
    """The whole page as one string."""
    shell = asset("report.html")
    return (
        shell.replace("/*__CSS__*/", asset("report.css"))
        .replace("/*__JS__*/", asset("report.js"))
        .replace("__DATA__", script_json(data))
    )


def write_page(target: Path, html: str) -> Path:
    """Write `html` to `target` atomically: a temporary file beside it, renamed only once complete."""
    from audio_playground.audio.writer import _create_temp

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(target, ".html")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(html)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(
            f"cannot write the report ({exc.strerror or exc})", path=target, hint="choose a writable --output path"
        ) from exc
    return target
