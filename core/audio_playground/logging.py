"""structlog set-up: readable console lines on a terminal, JSON lines (`--log-format json`) for batch runs."""

from __future__ import annotations

import logging as std_logging
import sys
from typing import Any

import structlog

_LEVELS = {
    "DEBUG": std_logging.DEBUG,
    "INFO": std_logging.INFO,
    "WARNING": std_logging.WARNING,
    "ERROR": std_logging.ERROR,
}


def configure_logging(level: str = "INFO", fmt: str = "console", quiet: bool = False, stream: Any = None) -> None:
    """Route every log line to stderr at `level` (WARNING at least when quiet), as console text or JSON."""
    threshold = _LEVELS.get(level.upper(), std_logging.INFO)
    if quiet:
        threshold = max(threshold, std_logging.WARNING)
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        processors: list[Any] = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ]
    else:
        out = stream or sys.stderr
        colors = bool(getattr(out, "isatty", lambda: False)())
        processors = [
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=0),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "audio_playground") -> Any:
    """A structlog logger bound to `name`."""
    return structlog.get_logger().bind(logger=name)
