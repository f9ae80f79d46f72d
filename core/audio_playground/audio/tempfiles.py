"""Temporary files beside a target, named after the process that owns them, and the removal of stale ones.

A writer writes `.<name>.partial-<host>-<pid>-<random>` beside its target and renames it on commit. A process
killed outright (SIGKILL, a power cut) cannot delete its temporary files; the name says which process
owned one, so the next writer of the same target on the same host deletes those whose process is gone.
A file of a live process, or of another host (a shared network folder), is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _host() -> str:
    """This machine's name, reduced to characters safe in a file name (never containing the separator '-')."""
    return _UNSAFE.sub("_", socket.gethostname().replace("-", "_"))[:40] or "host"


def _prefix(path: Path) -> str:
    return f".{path.name}.partial-"


def partial_name(path: Path, suffix: str = "") -> Path:
    """A fresh temporary name beside `path` that carries this host and process id."""
    return path.parent / f"{_prefix(path)}{_host()}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def create_temp(path: Path, suffix: str = "") -> Path:
    """Create an empty temporary file beside `path` (mode 0666 minus the umask, like any new file)."""
    for _ in range(100):
        candidate = partial_name(path, suffix)
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # pragma: no cover - a 32-bit random name already taken
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover - 100 collisions


def pid_alive(pid: int) -> bool:
    """True when a process `pid` exists on this machine (POSIX; on Windows every pid counts as alive)."""
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) is not a probe there
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process (tests run as one user)
        return True
    return True


def remove_stale(path: Path) -> list[Path]:
    """Delete the temporary files (and scratch folders) of `path` left by processes of this host that no longer
    run; returns them."""
    prefix = _prefix(path)
    host = _host()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        owner = entry.name[len(prefix) :].split("-")
        if len(owner) != 3 or owner[0] != host or not owner[1].isdigit():
            continue  # another host's file, or a name this scheme did not write
        pid = int(owner[1])
        if pid == os.getpid() or pid_alive(pid):
            continue
        stale = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(stale)  # a scratch folder (extract ensemble)
            else:
                stale.unlink()
            removed.append(stale)
    return removed
