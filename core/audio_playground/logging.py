"""structlog set-up: readable console lines on a terminal, JSON lines (`--log-format json`) for batch runs.

structlog is imported on the first line a run actually writes (a run that logs nothing at its level never pays
for it), and without rich: structlog.dev imports rich at import time only to offer rich tracebacks, which ap
never renders (tracebacks are printed by the CLI itself), and rich alone costs a third of structlog's import.
"""

from __future__ import annotations

import logging as std_logging
import sys
from typing import Any

_LEVELS = {
    "DEBUG": std_logging.DEBUG,
    "INFO": std_logging.INFO,
    "WARNING": std_logging.WARNING,
    "ERROR": std_logging.ERROR,
    "CRITICAL": std_logging.CRITICAL,
}
_state: dict[str, Any] = {"threshold": std_logging.INFO, "format": "console", "stream": None, "pending": False}


def configure_logging(level: str = "INFO", fmt: str = "console", quiet: bool = False, stream: Any = None) -> None:
    """Route every log line to stderr at `level` (WARNING at least when quiet), as console text or JSON."""
    threshold = _LEVELS.get(level.upper(), std_logging.INFO)
    if quiet:
        threshold = max(threshold, std_logging.WARNING)
    _state.update(threshold=threshold, format=fmt, stream=stream, pending=True)
    if "structlog" in sys.modules:  # already in use: apply now, as structlog.configure always did
        _apply()


def _structlog() -> Any:
    """structlog, imported with rich hidden unless something else already imported rich."""
    if "structlog" not in sys.modules and "rich" not in sys.modules:
        sys.modules["rich"] = None  # ty: ignore[invalid-assignment]  # `import rich` fails inside structlog.dev
        try:
            import structlog
        finally:
            del sys.modules["rich"]
        return structlog
    import structlog

    return structlog


def _apply() -> None:
    structlog = _structlog()
    stream = _state["stream"] or sys.stderr
    processors: list[Any]
    if _state["format"] == "json":
        processors = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
    else:
        colors = bool(getattr(stream, "isatty", lambda: False)())
        processors = [
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(
                colors=colors, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_state["threshold"]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _state["pending"] = False


class Logger:
    """A structlog logger made on its first line at or above the threshold; lines below it cost nothing."""

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = dict(context or {})

    def _real(self) -> Any:
        structlog = _structlog()
        if _state["pending"]:
            _apply()
        return structlog.get_logger().bind(logger=self._name, **self._context)

    def _log(self, level: str, event: str, *args: Any, **kw: Any) -> Any:
        if _LEVELS[level] < _state["threshold"]:
            return None
        return getattr(self._real(), level.lower())(event, *args, **kw)

    def bind(self, **kw: Any) -> Logger:
        return Logger(self._name, {**self._context, **kw})

    def debug(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._log("DEBUG", event, *args, **kw)

    def info(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._log("INFO", event, *args, **kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._log("WARNING", event, *args, **kw)

    warn = warning

    def error(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._log("ERROR", event, *args, **kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> Any:
        if _LEVELS["ERROR"] < _state["threshold"]:
            return None
        return self._real().exception(event, *args, **kw)

    def critical(self, event: str, *args: Any, **kw: Any) -> Any:
        return self._log("CRITICAL", event, *args, **kw)


def get_logger(name: str = "audio_playground") -> Logger:
    """A logger bound to `name` (structlog underneath, imported on the first line written)."""
    return Logger(name)
