"""`ap cache list | info | clean | clear`: look into and trim the step-result cache."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ap_cache_fs.store import EntryInfo, FsCache

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_duration(text: str) -> float:
    """Seconds in "7d", "12h", "1d12h", "90m", "30s", "2w" (a bare number is seconds)."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhdw])", "", value).strip():
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 7d, 12h, 1d12h, 30m, 45s, 2w")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def parse_size(text: str) -> int:
    """Bytes in "10GB", "500MB", "1.5G", "100KiB", "2048" (GB = 10^9 bytes, GiB = 2^30)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise click.BadParameter(f"{text!r} is not a size; use e.g. 10GB, 500MB, 1.5G, 100KiB or bytes")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def human_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for limit, unit, scale in ((120, "s", 1), (7200, "m", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / scale:.0f}{unit}"
    return f"{seconds / 86400:.0f}d"


def _store() -> FsCache:
    """The store of the running command's config (--cache-dir, AUDIO_PLAYGROUND_CACHE_DIR, config file)."""
    from ap_cache_fs.store import FsCache
    from audio_playground.cli.app import get_app
    from audio_playground.errors import OutputError

    app = get_app()
    config = app.setup()
    cache = FsCache(config.cache_dir.expanduser(), app.warn)
    if cache.cache_dir.exists() and not cache.cache_dir.is_dir():
        raise OutputError("is not a directory", path=cache.cache_dir, hint="pass a folder to --cache-dir")
    return cache


_NOT_OPTIONS = {"separator", "source", "model"}
"""Key material `cache list` shows in its own columns (separator, model, input) or that says nothing to a reader
(a chunk entry's "model" is the model's chunk geometry)."""


def describe_model(info: EntryInfo) -> tuple[str, str]:
    """(model, weights fingerprint) of an entry, from its identity ("<prefix>:<name>[:<fingerprint>...]")."""
    identity = info.manifest.get("identity")
    if isinstance(identity, str) and identity:
        parts = identity.split(":")
        return (parts[1], ":".join(parts[2:])) if len(parts) > 1 else (parts[0], "")
    options = (info.manifest.get("config") or {}).get("options")
    model = options.get("model") if isinstance(options, dict) else None
    return (str(model), "") if isinstance(model, str | int | float) else ("", "")


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_value(v) for v in value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_value(v)}" for k, v in value.items()) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def key_options(info: EntryInfo) -> dict[str, Any]:
    """The options that key an entry, flat: the separator's own first (they tell models apart), then the step's."""
    config = info.manifest.get("config") or {}
    inner = config.get("options")
    flat = {k: v for k, v in inner.items() if k not in _NOT_OPTIONS} if isinstance(inner, dict) else {}
    flat.update({k: v for k, v in config.items() if k not in _NOT_OPTIONS and k != "options"})
    return flat


def _input_size(info: EntryInfo) -> int | None:
    sizes = [v.get("size") for v in (info.manifest.get("inputs") or {}).values() if isinstance(v, dict)]
    known = [s for s in sizes if isinstance(s, int)]
    return sum(known) if known else None


def _row(info: EntryInfo, now: float) -> dict[str, Any]:
    model, weights = describe_model(info)
    config = info.manifest.get("config") or {}
    return {
        "key": info.key,
        "command": info.command,
        "step": str(info.manifest.get("step", "")) if info.complete else "",
        "separator": str(config.get("separator", "")),
        "model": model,
        "weights": weights,
        "options": key_options(info),
        "input": info.input,
        "input_size": _input_size(info),
        "identity": info.manifest.get("identity", ""),
        "age_s": round(now - info.created, 3),
        "last_used_s": round(now - info.used, 3),
        "size": info.size,
        "complete": info.complete,
    }


def _fit(text: str, width: int) -> str:
    """`text` in `width` columns, its end kept (file and model names differ at the end) behind an ellipsis."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


@click.group("cache", context_settings=CONTEXT_SETTINGS)
def cache_group() -> None:
    """Inspect and trim the step-result cache (ap-cache-fs)."""


@cache_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Also list per-chunk entries of unfinished separations.")
def cache_list(as_json: bool, show_all: bool) -> None:
    """Every entry, least recently used first: step, separator and model (weights), input and its size, age,
    last use, size, and the options that key the entry (so entries of one input are told apart)."""
    now = time.time()
    entries = _store().scan()
    if not show_all:
        entries = [e for e in entries if e.manifest.get("step") != "separate-chunk"]
    rows = [_row(info, now) for info in entries]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("the cache is empty")
        return
    click.echo(
        f"{'KEY':<12} {'STEP':<14} {'SEPARATOR':<12} {'MODEL':<24} {'INPUT':<24} {'INPUT SIZE':>10} "
        f"{'AGE':>5} {'USED':>5} {'SIZE':>9}  OPTIONS"
    )
    for row in rows:
        model = f"{row['model']}@{row['weights'][:8]}" if row["weights"] else row["model"]
        size = "" if row["input_size"] is None else human_size(row["input_size"])
        step = row["step"] if row["complete"] else "(incomplete)"
        options = " ".join(f"{k}={_value(v)}" for k, v in row["options"].items())
        click.echo(
            f"{row['key'][:12]:<12} {step[:14]:<14} {_fit(row['separator'] or '-', 12):<12} "
            f"{_fit(model or '-', 24):<24} {_fit(row['input'], 24):<24} {size:>10} "
            f"{human_age(row['age_s']):>5} {human_age(row['last_used_s']):>5} {human_size(row['size']):>9}  "
            f"{options}".rstrip()
        )


@cache_group.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Where the cache is, how many entries it holds and their size."""
    from ap_cache_fs import __version__
    from ap_cache_fs.hashing import ALGORITHM, FORMAT

    store = _store()
    entries = store.scan()
    complete = [e for e in entries if e.complete]
    steps: dict[str, int] = {}
    for info in complete:
        step = str(info.manifest.get("step", "?"))
        steps[step] = steps.get(step, 0) + 1
    data = {
        "directory": str(store.cache_dir),
        "store": str(store.root),
        "plugin": f"ap-cache-fs {__version__}",
        "format": FORMAT,
        "hash": ALGORITHM,
        "entries": len(complete),
        "incomplete": len(entries) - len(complete),
        "size": sum(e.size for e in entries),
        "steps": steps,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"directory:  {data['directory']}")
    click.echo(f"store:      {data['store']} (format {FORMAT}, {ALGORITHM} keys)")
    click.echo(f"entries:    {data['entries']} ({human_size(data['size'])})")
    if data["incomplete"]:
        click.echo(f"incomplete: {data['incomplete']} (left by interrupted runs; `ap cache clean` drops them)")
    for step, count in sorted(steps.items()):
        click.echo(f"  {step:<16} {count}")


@cache_group.command("clean")
@click.option(
    "--older-than",
    metavar="AGE",
    default=None,
    help="Remove entries not used for AGE (e.g. 7d, 12h, 30m).",
)
@click.option(
    "--max-size",
    metavar="SIZE",
    default=None,
    help="Then remove the least recently used entries until the cache fits in SIZE (e.g. 10GB, 500MB).",
)
def cache_clean(older_than: str | None, max_size: str | None) -> None:
    """Remove entries left incomplete by interrupted runs, old entries, and the least recently used above a size."""
    age = None if older_than is None else parse_duration(older_than)
    limit = None if max_size is None else parse_size(max_size)
    store = _store()
    removed, strays = store.clean(older_than=age, max_size=limit)
    remaining = store.scan()
    freed = sum(info.size for info in removed)
    stray_note = f" and {strays} stray files" if strays else ""
    click.echo(
        f"removed {len(removed)} entries ({human_size(freed)}){stray_note}; "
        f"{len(remaining)} entries ({human_size(sum(e.size for e in remaining))}) remain"
    )


@cache_group.command("clear")
def cache_clear() -> None:
    """Remove every entry."""
    count, freed = _store().clear()
    click.echo(f"removed {count} entries ({human_size(freed)})")
