"""`evaluate()`: match estimates to references, score them, run the reference-free checks; the EvalReport
renders as a terminal table, JSON (the contract `ap report` reads) and CSV, and answers --fail-under."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio_playground.errors import OutputError, UsageError
from audio_playground.evaluation.checks import Check, check_track
from audio_playground.evaluation.layout import Track, discover
from audio_playground.evaluation.reader import BlockReader

METRICS = ("sdr", "sir", "isr", "sar", "global_sdr", "si_sdr")
LABELS = {"sdr": "SDR", "sir": "SIR", "isr": "ISR", "sar": "SAR", "global_sdr": "gSDR", "si_sdr": "SI-SDR"}


@dataclass
class TrackReport:
    """One track's scores per stem (empty without references) and its reference-free checks."""

    name: str
    stems: dict[str, dict[str, float | None]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Caveats about the scores (e.g. references too close to linearly dependent for SIR/ISR/SAR)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stems": self.stems,
            "checks": [c.to_dict() for c in self.checks],
            "warnings": self.warnings,
        }


@dataclass
class EvalReport:
    """Every track's report and, per stem and metric, the median over tracks (None where undefined)."""

    tracks: list[TrackReport]
    median: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: undefined metrics are None, never NaN or infinity."""
        return {"tracks": [t.to_dict() for t in self.tracks], "median": self.median}

    def failures(self, thresholds: Mapping[str, float], metric: str = "sdr") -> list[str]:
        """One sentence per stem whose median `metric` is below its threshold (or undefined)."""
        out: list[str] = []
        for stem, limit in thresholds.items():
            if stem not in self.median:
                out.append(f"{stem}: no such stem (stems: {', '.join(sorted(self.median)) or 'none'})")
                continue
            value = self.median[stem].get(metric)
            if value is None:
                out.append(f"{stem}: median {LABELS[metric]} is n/a, below {limit:g} dB")
            elif value < limit:
                out.append(f"{stem}: median {LABELS[metric]} {value:.2f} dB is below {limit:g} dB")
        return out


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _tracks(source: str | Path | Sequence[Track], mix: Path | None) -> list[Track]:
    if isinstance(source, str | Path):
        return discover(Path(source), mix=mix)
    return list(source)


def _pair(estimates: list[Track], references: list[Track]) -> list[tuple[Track, Track]]:
    if len(estimates) == 1 and len(references) == 1:
        return [(estimates[0], references[0])]
    refs = {t.name: t for t in references}
    ests = {t.name: t for t in estimates}
    missing = sorted(set(ests) - set(refs))
    extra = sorted(set(refs) - set(ests))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"estimated tracks without references: {', '.join(missing)}")
        if extra:
            parts.append(f"reference tracks without estimates: {', '.join(extra)}")
        raise UsageError("; ".join(parts), hint="name each track's folder the same on both sides")
    return [(ests[name], refs[name]) for name in sorted(ests)]


def _match_stems(est: Track, ref: Track) -> list[str]:
    missing = sorted(set(est.stems) - set(ref.stems))
    extra = sorted(set(ref.stems) - set(est.stems))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"estimated stems without a reference: {', '.join(missing)}")
        if extra:
            parts.append(f"reference stems without an estimate: {', '.join(extra)}")
        raise UsageError(
            f"track {est.name!r}: " + "; ".join(parts), hint="stems are matched by name: rename the files to match"
        )
    return sorted(est.stems)


def _shape(path: Path) -> tuple[int, int, int | None]:
    from audio_playground.audio import probe
    from audio_playground.errors import DecodeError, InputError

    try:
        info = probe(path)
    except DecodeError as exc:
        raise InputError(f"not an audio file ({exc.message})", path=path, hint="remove it") from exc
    return info.sample_rate, info.channels, info.frames if info.lossless else None


def _frames_of(path: Path) -> int:
    with BlockReader(path) as reader:
        while reader.read(1 << 18).shape[1]:
            pass
        return reader.frames


ILL_CONDITIONED_WARNING = (
    "the references are nearly linearly dependent (pure tones without a noise floor?): SIR, ISR and SAR are "
    "rounding noise here, as in museval; SDR, global SDR and SI-SDR are not affected"
)


def _score_track(
    est: Track, ref: Track, *, resample: bool, window: float, hop: float
) -> tuple[dict[str, dict[str, float | None]], list[str]]:
    from audio_playground.evaluation.bsseval import evaluate_sources

    stems = _match_stems(est, ref)
    shapes = {stem: _shape(ref.stems[stem]) for stem in stems}
    first = stems[0]
    rate, channels, _ = shapes[first]
    for stem in stems:
        if shapes[stem][:2] != (rate, channels):
            raise UsageError(
                f"the references {ref.stems[first]} ({rate} Hz, {channels} ch) and {ref.stems[stem]} "
                f"({shapes[stem][0]} Hz, {shapes[stem][1]} ch) differ",
                hint="a track's references must share one rate and channel count",
            )
    frames: int | None = None
    if resample:
        frames = shapes[first][2] if shapes[first][2] is not None else _frames_of(ref.stems[first])
    else:
        for stem in stems:
            e_rate, e_channels, e_frames = _shape(est.stems[stem])
            r_frames = shapes[stem][2]
            if (e_rate, e_channels) != (rate, channels) or (None not in (e_frames, r_frames) and e_frames != r_frames):
                raise UsageError(
                    f"{est.stems[stem]} ({e_rate} Hz, {e_channels} ch, {e_frames} frames) does not match the "
                    f"reference {ref.stems[stem]} ({rate} Hz, {channels} ch, {r_frames} frames)",
                    hint="pass --resample to convert the estimates to the references' rate, channels and length",
                )

    def open_readers() -> tuple[list[BlockReader], list[BlockReader]]:
        refs = [BlockReader(ref.stems[s], frames=frames) for s in stems]
        if resample:
            ests = [BlockReader(est.stems[s], sample_rate=rate, channels=channels, frames=frames) for s in stems]
        else:
            ests = [BlockReader(est.stems[s]) for s in stems]
        return refs, ests

    scores = evaluate_sources(open_readers, window=max(1, round(window * rate)), hop=max(1, round(hop * rate)))
    out: dict[str, dict[str, float | None]] = {}
    for stem, score in zip(stems, scores, strict=True):
        values = {m: score.median(m) for m in ("sdr", "sir", "isr", "sar")}
        values["global_sdr"] = _finite(score.global_sdr)
        values["si_sdr"] = _finite(score.si_sdr)
        out[stem] = {m: _rounded(values[m]) for m in METRICS}
    return out, [ILL_CONDITIONED_WARNING] if any(s.ill_conditioned for s in scores) else []


def evaluate(
    estimates: str | Path | Sequence[Track],
    references: str | Path | Sequence[Track] | None = None,
    *,
    mix: str | Path | None = None,
    resample: bool = False,
    window: float = 1.0,
    hop: float = 1.0,
    checks: bool = True,
) -> EvalReport:
    """Score a folder of estimated stems against references (BSSEval v4 SDR/SIR/ISR/SAR as museval computes
    them, 1-second windows, median over windows; MDX global SDR; SI-SDR), and run the reference-free checks.

    Without references only the checks run. `mix` is a track's mixture (or a folder of mixtures) for the
    checks; `resample` converts estimates to the references' rate, channels and length instead of refusing.
    """
    if window <= 0 or hop <= 0:
        raise UsageError(f"window and hop must be positive seconds, got {window} and {hop}")
    est_tracks = _tracks(estimates, None if mix is None else Path(mix))
    reports: list[TrackReport] = []
    if references is None:
        reports = [TrackReport(t.name) for t in est_tracks]
        pairs: list[tuple[Track, Track | None]] = [(t, None) for t in est_tracks]
    else:
        ref_tracks = _tracks(references, None)
        pairs = list(_pair(est_tracks, ref_tracks))
        reports = [TrackReport(est.name) for est, _ in pairs]
    for report, (est, ref) in zip(reports, pairs, strict=True):
        if ref is not None:
            if est.mix is None and ref.mix is not None:
                est.mix = ref.mix
            report.stems, report.warnings = _score_track(est, ref, resample=resample, window=window, hop=hop)
        if checks:
            report.checks = check_track(est)
    stems = list(dict.fromkeys(s for r in reports for s in r.stems))
    median = {s: {m: _median([r.stems[s][m] for r in reports if s in r.stems]) for m in METRICS} for s in stems}
    return EvalReport(reports, median)


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def format_table(report: EvalReport) -> str:
    """The terminal table: per track and stem, the median over tracks, and the checks that failed."""
    lines: list[str] = []
    scored = any(t.stems for t in report.tracks)
    names = [s for t in report.tracks for s in t.stems] + [c.stem or "" for t in report.tracks for c in t.checks]
    width = max([len(n) for n in names] + [6])
    head = f"{'stem':<{width}}  " + "  ".join(f"{LABELS[m]:>7}" for m in METRICS)
    for track in report.tracks:
        lines.append(f"{track.name}")
        if scored:
            lines.append("  " + head)
            for stem, values in track.stems.items():
                lines.append("  " + f"{stem:<{width}}  " + "  ".join(f"{_cell(values[m]):>7}" for m in METRICS))
        lines.extend(f"  warning: {w}" for w in track.warnings)
        bad = [c for c in track.checks if not c.ok]
        if track.checks:
            passed = len(track.checks) - len(bad)
            lines.append(f"  checks: {passed}/{len(track.checks)} passed")
        for check in bad:
            lines.append(f"    {check.stem or '(track)'} {check.name}: {check.message}")
    if scored:
        lines.append(f"median over {len(report.tracks)} track{'s' if len(report.tracks) != 1 else ''}")
        lines.append("  " + head)
        for stem, values in report.median.items():
            lines.append("  " + f"{stem:<{width}}  " + "  ".join(f"{_cell(values[m]):>7}" for m in METRICS))
        lines.append("  (dB; SDR/SIR/ISR/SAR: BSSEval v4, median of 1 s windows; gSDR: MDX global SDR)")
    return "\n".join(lines)


def to_csv(report: EvalReport) -> str:
    """Long-format CSV: track, stem, name, value, ok, message (metrics, then checks; median rows last)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["track", "stem", "name", "value", "ok", "message"])
    for track in report.tracks:
        for stem, values in track.stems.items():
            for metric in METRICS:
                writer.writerow([track.name, stem, metric, "" if values[metric] is None else values[metric], "", ""])
        for check in track.checks:
            value = "" if check.value is None else check.value
            writer.writerow([track.name, check.stem or "", check.name, value, check.ok, check.message])
    for stem, values in report.median.items():
        for metric in METRICS:
            writer.writerow(["(median)", stem, metric, "" if values[metric] is None else values[metric], "", ""])
    return buffer.getvalue()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` so that it appears complete or not at all."""
    from audio_playground.audio.writer import _create_temp

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(target)
    except OSError as exc:
        raise OutputError(
            f"cannot write ({exc.strerror or exc})", path=target, hint="check that the directory is writable"
        ) from exc
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write ({exc.strerror or exc})", path=target, hint="check free space") from exc
    return target


def to_json(report: EvalReport) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
