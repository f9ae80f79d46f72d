"""Typed errors, each mapped to an exit code (CLI.md): 1 run-time failure, 2 usage error, 130 interrupted."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitStatus(IntEnum):
    """Process exit codes, the contract of CLI.md."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130


class APError(Exception):
    """Base of every error the program reports as one line: file, cause, what to do."""

    exit_code: ExitStatus = ExitStatus.FAILURE

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint

    def on_input(self, src: str | Path) -> APError:
        """This error, naming first the input it happened on (its own file, a model folder say, follows)."""
        src = str(src)
        if self.path != src:
            if self.path is not None:
                self.message = f"{self.path}: {self.message}"
            self.path = src
        return self

    def __str__(self) -> str:
        parts = [f"{self.path}: {self.message}" if self.path else self.message]
        if self.hint:
            parts.append(self.hint)
        return ". ".join(p.rstrip(".") for p in parts) + "."


class UsageError(APError):
    """A bad option, a missing input file, a bad workflow file: exit 2."""

    exit_code = ExitStatus.USAGE


class InputError(UsageError):
    """An input that is missing, a directory or not a file: exit 2."""


class DecodeError(APError):
    """An input that exists but cannot be decoded as audio: exit 1."""


class OutputError(APError):
    """A target that cannot be written: exit 1."""


class PluginError(APError):
    """A plugin that is missing, failed to load, or lacks what was asked of it: exit 1."""


class ModelError(APError):
    """A model that is unknown, not available offline, or rejects its input: exit 1."""


class ConfigError(UsageError):
    """A config file or environment value that does not validate: exit 2."""
