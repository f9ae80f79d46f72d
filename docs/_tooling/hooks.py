"""mkdocs hooks: make `ap_docs` importable for mkdocs-click, and fill generated tables from the code itself.

A page marks where a table goes with an HTML comment; the table is built from the running code, so it
cannot drift:

- ``<!-- ap:providers -->``: every command and separator, and the distribution (and backend) providing it.
- ``<!-- ap:settings -->``: every config field, its environment variable, default and meaning.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ap_docs  # noqa: E402  (needs HERE on sys.path; mkdocs-click then imports the same module)

PROVIDERS = "<!-- ap:providers -->"
SETTINGS = "<!-- ap:settings -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def providers_table() -> str:
    """Markdown table: command -> distribution, from the plugin manager the reference is built with."""
    rows = ap_docs.providers(ap_docs.build_plugin_manager())
    lines = ["| command | provided by |", "| --- | --- |"]
    lines += [f"| `ap {_cell(command)}` | {_cell(dist)} |" for command, dist in rows]
    return "\n".join(lines)


def settings_table() -> str:
    """Markdown table of AudioPlaygroundConfig: field, environment variable, default, description."""
    from pydantic_core import PydanticUndefined

    from audio_playground.config import ENV_PREFIX, AudioPlaygroundConfig

    lines = ["| setting | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in AudioPlaygroundConfig.model_fields.items():
        if field.default_factory is not None:
            default = "platform cache folder (`ap config show` prints it)"
        elif field.default is PydanticUndefined or field.default is None:
            default = "unset"
        else:
            default = f"`{field.default}`"
        env = f"`{ENV_PREFIX}{name.upper()}`"
        lines.append(f"| `{name}` | {env} | {default} | {_cell(field.description or '')} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the generated-table markers of a page."""
    if PROVIDERS in markdown:
        markdown = markdown.replace(PROVIDERS, providers_table())
    if SETTINGS in markdown:
        markdown = markdown.replace(SETTINGS, settings_table())
    return markdown
