"""Build the report's data for a folder of separation outputs and write the page (`ap report`, `--report`)."""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from audio_playground import __version__
from audio_playground.errors import APError, InputError

if TYPE_CHECKING:
    from audio_playground.evaluation import Track

REPORT_NAME = "report.html"
LENGTH_TOLERANCE_S = 0.01
_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg"}


@dataclass
class ReportResult:
    """The written page and what it marked: one line per problem (file, cause)."""

    path: Path
    tracks: int
    stems: int
    problems: list[str] = field(default_factory=list)


def _src(path: Path, base: Path, embed: bool) -> str:
    """How the page reaches an audio file: a relative URL (works from file:// and a web server) or a data: URL."""
    if embed:
        mime = _MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
    try:
        relative = os.path.relpath(path.resolve(), base.resolve())
    except ValueError:  # pragma: no cover - another drive on Windows
        return path.resolve().as_uri()
    return quote(Path(relative).as_posix())


def _display(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


def _describe(error: BaseException) -> str:
    if isinstance(error, APError):
        return error.message
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"{type(error).__name__}: {error}"


def _audio_entry(name: str, path: Path, base: Path, embed: bool) -> dict[str, Any]:
    from audio_playground.report.analysis import analyse
    from audio_playground.report.images import data_url, spectrogram_image

    entry: dict[str, Any] = {"name": name, "file": _display(path, base), "error": None}
    try:
        measured = analyse(path)
        entry["src"] = _src(path, base, embed)
    except Exception as exc:
        entry["error"] = _describe(exc)
        return entry
    entry.update(
        rate=measured.sample_rate,
        channels=measured.channels,
        duration=round(measured.duration, 4),
        peak_db=measured.peak_db,
        rms_db=measured.rms_db,
        peaks=base64.b64encode(measured.peaks).decode("ascii"),
        spectrogram=data_url(spectrogram_image(measured.spectrogram), "image/webp"),
    )
    return entry


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


def _consistency(stems: list[dict[str, Any]]) -> list[str]:
    """A line per way the stems of a track disagree (rate, length)."""
    readable = [s for s in stems if s["error"] is None]
    problems = []
    if len({s["rate"] for s in readable}) > 1:
        rates = ", ".join(f"{s['name']} {s['rate']} Hz" for s in readable)
        problems.append(f"stems have different sample rates ({rates})")
    durations = [s["duration"] for s in readable]
    if durations and max(durations) - min(durations) > LENGTH_TOLERANCE_S:
        lengths = ", ".join(f"{s['name']} {_minutes(s['duration'])}" for s in readable)
        problems.append(f"stems have different lengths ({lengths}); the player stops each at its end")
    return problems


def _checks(track: Track) -> tuple[list[dict[str, Any]], str | None]:
    from dataclasses import asdict

    from audio_playground.evaluation import check_track

    try:
        return [asdict(check) for check in check_track(track)], None
    except Exception as exc:
        return [], f"checks failed: {_describe(exc)}"


def track_data(
    track: Track, base: Path, *, embed: bool = False, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The page's data for one track: its audio (measured), consistency problems, checks and settings."""
    stems = [_audio_entry(stem, Path(path), base, embed) for stem, path in track.stems.items()]
    mix = _audio_entry("mix", Path(track.mix), base, embed) if track.mix is not None else None
    problems = [f"{s['file']}: cannot read ({s['error']})" for s in stems if s["error"]]
    if mix is not None and mix["error"]:
        problems.append(f"{mix['file']}: cannot read the mix ({mix['error']})")
    problems += _consistency(stems)
    checks, failure = _checks(track)
    if failure:
        problems.append(failure)
    durations = [s["duration"] for s in stems if s["error"] is None]
    return {
        "name": track.name,
        "duration": max(durations, default=0.0),
        "stems": stems,
        "mix": mix,
        "problems": problems,
        "checks": checks,
        "metrics": None,
        "settings": dict(settings or {}),
    }


def _metrics(tracks: Sequence[Track], references: Path) -> dict[str, Any]:
    """`ap eval`'s metrics of the tracks against the references (the checks already ran)."""
    from audio_playground.evaluation.report import evaluate

    return evaluate(list(tracks), references, checks=False).to_dict()


def build_report(
    folder: Path,
    *,
    output: Path | None = None,
    references: Path | None = None,
    mix: Path | None = None,
    embed: bool = False,
    tracks: Sequence[Track] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportResult:
    """Write the report page for `folder` (default FOLDER/report.html) and return what it holds.

    `tracks` (default: discovered in `folder`) and `settings` (track name -> what the run used; default: the
    folder's run manifest) let a command that has just written the stems report exactly those.
    """
    from audio_playground.report.manifest import json_safe, read_manifest, settings_for
    from audio_playground.report.page import render, write_page

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder of separation outputs", path=folder, hint="give the --output-dir of a run")
    target = Path(output) if output is not None else folder / REPORT_NAME
    if tracks is None:
        from audio_playground.evaluation import discover

        tracks = discover(folder, mix=mix)
    tracks = [t for t in tracks if t.stems]
    if not tracks:
        raise InputError(
            "no stems found",
            path=folder,
            hint="point ap report at a run's output folder ({track}/{stem}.wav or {stem}-{suffix}.wav files)",
        )
    records = read_manifest(folder)
    base = target.parent

    def one(track: Track) -> dict[str, Any]:
        # what the run's manifest recorded wins over what the caller knows; unknown (None) values are left out
        given = {k: v for k, v in (settings or {}).get(track.name, {}).items() if v is not None}
        recorded = {**json_safe(given), **settings_for(records, track.name, track.stems)}
        return track_data(track, base, embed=embed, settings=recorded)

    # Tracks in threads, one per core: decoding, numpy and the checks release the GIL.
    with ThreadPoolExecutor(max(1, min(len(tracks), os.cpu_count() or 1))) as pool:
        data_tracks = list(pool.map(one, tracks))
    median = None
    if references is not None:
        evaluated = _metrics(tracks, references)
        by_name = {t["name"]: t for t in evaluated.get("tracks", [])}
        for entry in data_tracks:
            if entry["name"] in by_name:
                entry["metrics"] = by_name[entry["name"]].get("stems")
        median = evaluated.get("median")
    data = {
        "title": folder.resolve().name or str(folder),
        "folder": str(folder),
        "generated": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "version": __version__,
        "embedded": embed,
        "tracks": data_tracks,
        "median": median,
    }
    write_page(target, render(data))
    problems = [f"{t['name']}: {p}" for t in data_tracks for p in t["problems"]]
    return ReportResult(target, len(data_tracks), sum(len(t["stems"]) for t in data_tracks), problems)
