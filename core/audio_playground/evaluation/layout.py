"""Find the tracks and stems in a folder of separation outputs or references (MUSDB18-HQ, demucs CLI, ours).

Layouts: `{track}/{stem}.{ext}` (MUSDB18-HQ, the demucs CLI), our `--filename` outputs
`{track}/{stem}-{suffix}.{ext}`, and a single track's flat `{stem}-{suffix}.{ext}` or `{stem}.{ext}`.
A track's mixture is the file named `mixture.*` or `mix.*` beside its stems, or the one given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audio_playground.errors import InputError, UsageError

MIX_NAMES = frozenset({"mixture", "mix"})


@dataclass
class Track:
    """One track: its stems by name, and its mixture when known."""

    name: str
    stems: dict[str, Path] = field(default_factory=dict)
    mix: Path | None = None


def _media_suffixes() -> frozenset[str]:
    from audio_playground.api import MEDIA_SUFFIXES

    return MEDIA_SUFFIXES


def _audio_files(folder: Path) -> list[Path]:
    suffixes = _media_suffixes()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def stem_names(files: list[Path]) -> dict[str, Path]:
    """Stem name per file: the file name without its extension, and without a `-suffix` all files share."""
    bases = [p.stem for p in files]
    tails = {b.rsplit("-", 1)[1] if "-" in b else None for b in bases}
    if len(tails) == 1 and None not in tails:
        bases = [b.rsplit("-", 1)[0] for b in bases]
    named: dict[str, Path] = {}
    for base, path in zip(bases, files, strict=True):
        if base in named:
            raise UsageError(
                f"two files for the stem {base!r}: {named[base]} and {path}",
                path=path.parent,
                hint="keep one file per stem in a track's folder",
            )
        named[base] = path
    return named


def _track(name: str, files: list[Path]) -> Track:
    mixes = [p for p in files if p.stem.lower() in MIX_NAMES]
    stems = [p for p in files if p.stem.lower() not in MIX_NAMES]
    return Track(name=name, stems=stem_names(stems) if stems else {}, mix=mixes[0] if mixes else None)


def _mix_in_folder(folder: Path, track: str, single: bool) -> Path | None:
    files = _audio_files(folder)
    for path in files:
        if path.stem == track:
            return path
    sub = folder / track
    if sub.is_dir():
        for path in _audio_files(sub):
            if path.stem.lower() in MIX_NAMES:
                return path
    if single:
        named = [p for p in files if p.stem.lower() in MIX_NAMES]
        if named:
            return named[0]
        if len(files) == 1:
            return files[0]
    return None


def discover(folder: Path, *, mix: Path | None = None) -> list[Track]:
    """The tracks in `folder` (sorted by name); `mix` is a track's mixture file, or a folder of mixtures.

    A missing folder, a file given as the folder, or a folder without audio files is a usage error.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError("no such folder", path=folder, hint="check the path")
    if not folder.is_dir():
        raise InputError("is a file, not a folder of stems", path=folder, hint="pass the folder the stems are in")
    tracks: list[Track] = []
    flat = _audio_files(folder)
    if [p for p in flat if p.stem.lower() not in MIX_NAMES]:
        tracks.append(_track(folder.resolve().name, flat))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _audio_files(sub)
        if [p for p in files if p.stem.lower() not in MIX_NAMES]:
            tracks.append(_track(sub.name, files))
    if not tracks:
        raise InputError(
            "no audio files in the folder or its sub-folders",
            path=folder,
            hint="pass a folder of stems: {track}/{stem}.wav, or a track's {stem}-{suffix}.wav files",
        )
    if mix is not None:
        mix = Path(mix)
        if not mix.exists():
            raise InputError("no such mixture file or folder", path=mix, hint="check the --mix path")
        if mix.is_file():
            if len(tracks) > 1:
                raise UsageError(
                    f"one mixture file for {len(tracks)} tracks",
                    path=mix,
                    hint="pass a folder of mixtures named after the tracks ({track}.wav) as --mix",
                )
            tracks[0].mix = mix
        else:
            for track in tracks:
                found = _mix_in_folder(mix, track.name, single=len(tracks) == 1)
                if found is None:
                    raise InputError(
                        f"no mixture for the track {track.name!r}",
                        path=mix,
                        hint=f"put {track.name}.wav (or {track.name}/mixture.wav) in it",
                    )
                track.mix = found
    return tracks
