"""The built-in "file" source plugin: local files, decoded by libsndfile or PyAV. Cheap to import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audio_playground.hookspecs import hookimpl
from audio_playground.specs import AudioInfo, AudioStream, SourceSpec


def can_open(location: str) -> bool:
    """True for local paths (plain or file:// URLs); URLs of other schemes belong to other sources."""
    text = str(location)
    if "://" not in text:
        return True
    return text.startswith("file://")


def _local(location: str | Path) -> str | Path:
    text = str(location)
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(text).path)
    return location


def probe(location: str | Path) -> AudioInfo:
    """Probe a local file (see audio_playground.audio.source.probe)."""
    from audio_playground.audio.source import probe as probe_file

    return probe_file(_local(location))


def open_audio(location: str | Path, **kwargs: Any) -> AudioStream:
    """Open a local file as a stream (see audio_playground.audio.source.open_audio)."""
    from audio_playground.audio.source import open_audio as open_file

    return open_file(_local(location), **kwargs)


@hookimpl
def ap_sources() -> list[SourceSpec]:
    """The built-in file source."""
    return [SourceSpec(name="file", can_open=can_open, probe=probe, open=open_audio)]
