"""Reference-free checks of a track's stems: do they add up to the mix, is any silent, clipped, or off in
length or rate? One streaming pass over the files: memory is bounded by the block size, not the track length.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from audio_playground.evaluation.reader import BlockReader

if TYPE_CHECKING:
    from audio_playground.evaluation.layout import Track

SILENT_DB = -60.0
"""A stem whose RMS is below this (dBFS) is reported silent."""
CLIP_LEVEL = 1.0 - 2.0**-15
"""A sample at or beyond this magnitude (16-bit full scale) counts as clipped."""
SUM_TOLERANCE_DB = -30.0
"""The stems' sum may differ from the mix (up to one gain for all stems) by at most this much energy (dB)."""
FLOOR_DB = -150.0
"""Energy ratios below this are reported as this (an exact sum has no finite error in dB)."""
BLOCK = 1 << 16
CHECK_NAMES = ("sum_error_db", "silent", "clipped", "length", "rate")


@dataclass
class Check:
    """One reference-free check: which stem (None: the track), its name, pass or fail, a value, a sentence."""

    stem: str | None
    name: str
    ok: bool
    value: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _db(num: float, den: float) -> float:
    """10 log10(num / den) for den > 0, floored at FLOOR_DB."""
    if num <= 0:
        return FLOOR_DB
    return max(FLOOR_DB, 10.0 * math.log10(num / den))


def check_track(
    track: Track,
    *,
    silent_db: float = SILENT_DB,
    sum_tolerance_db: float = SUM_TOLERANCE_DB,
) -> list[Check]:
    """Check `track`'s stems without references: rate and length against the mix (or the first stem),
    silence, clipped samples, and the error of the stems' sum against the mix."""
    import numpy as np

    checks: list[Check] = []
    with ExitStack() as stack:
        readers = {stem: stack.enter_context(BlockReader(path)) for stem, path in track.stems.items()}
        mix = stack.enter_context(BlockReader(track.mix)) if track.mix is not None else None
        base = mix if mix is not None else next(iter(readers.values()), None)
        if base is None:
            return checks
        against = "the mix" if mix is not None else f"the {next(iter(readers))} stem"
        energy = dict.fromkeys(readers, 0.0)
        clipped = dict.fromkeys(readers, 0)
        summable = mix is not None and all(
            r.sample_rate == mix.sample_rate and r.channels == mix.channels for r in readers.values()
        )
        ss = sm = mm = 0.0  # energies of the stems' sum and the mix, and their inner product
        while True:
            blocks = {stem: r.read(BLOCK) for stem, r in readers.items()}
            mixed = mix.read(BLOCK) if mix is not None else None
            if all(b.shape[1] == 0 for b in blocks.values()) and (mixed is None or mixed.shape[1] == 0):
                break
            for stem, block in blocks.items():
                energy[stem] += float(np.einsum("ij,ij->", block, block))
                clipped[stem] += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
            if summable and mixed is not None:
                length = max([mixed.shape[1], *(b.shape[1] for b in blocks.values())])
                total = np.zeros((mixed.shape[0], length))
                for block in blocks.values():
                    total[:, : block.shape[1]] += block
                m = np.zeros_like(total)
                m[:, : mixed.shape[1]] = mixed
                ss += float(np.einsum("ij,ij->", total, total))
                sm += float(np.einsum("ij,ij->", total, m))
                mm += float(np.einsum("ij,ij->", m, m))
        for stem, reader in readers.items():
            checks.extend(_stem_checks(stem, reader, base, against, energy[stem], clipped[stem], silent_db))
    if mix is None:
        checks.append(Check(None, "sum_error_db", True, None, "no mixture to compare the stems' sum with (--mix)"))
    elif not summable:
        checks.append(
            Check(None, "sum_error_db", False, None, "stems differ from the mix in rate or channels: no sum check")
        )
    else:
        checks.append(_sum_check(ss, sm, mm, sum_tolerance_db))
    return checks


def _sum_check(ss: float, sm: float, mm: float, tolerance_db: float) -> Check:
    """The stems' sum S against the mix M up to one gain g (S = g M when every stem got the same gain, as
    --clip rescale gives): the energy of S - g M relative to g M, in dB."""
    if mm <= 0:
        return Check(None, "sum_error_db", True, None, "the mix is digital silence")
    gain = sm / mm
    # stems unrelated to the mix (no positive gain fits): the plain error
    plain = gain <= 0
    value = _db(max(ss - 2 * sm + mm, 0.0), mm) if plain else _db(max(ss - sm * sm / mm, 0.0), sm * sm / mm)
    ok = value <= tolerance_db
    verdict = "add up to the mix" if ok else "do not add up to the mix"
    scaled = f" x {gain:.3f}" if gain > 0 and abs(gain - 1.0) > 1e-3 else ""
    return Check(None, "sum_error_db", ok, round(value, 2), f"the stems {verdict}{scaled} (error {value:.1f} dB)")


def _stem_checks(
    stem: str,
    reader: BlockReader,
    base: BlockReader,
    against: str,
    energy: float,
    clipped: int,
    silent_db: float,
) -> list[Check]:
    out: list[Check] = []
    rate_ok = reader.sample_rate == base.sample_rate
    out.append(
        Check(
            stem,
            "rate",
            rate_ok,
            float(reader.sample_rate),
            f"{reader.sample_rate} Hz" + ("" if rate_ok else f", {against} is {base.sample_rate} Hz"),
        )
    )
    seconds = reader.frames / reader.sample_rate
    if rate_ok:
        diff = reader.frames - base.frames
        length_ok = diff == 0
        note = "" if length_ok else f", {abs(diff)} frames {'longer' if diff > 0 else 'shorter'} than {against}"
    else:
        length_ok = abs(seconds - base.frames / base.sample_rate) < 1.0 / min(reader.sample_rate, base.sample_rate)
        note = "" if length_ok else f", {against} lasts {base.frames / base.sample_rate:.3f} s"
    out.append(Check(stem, "length", length_ok, round(seconds, 6), f"{seconds:.3f} s{note}"))
    samples = reader.frames * reader.channels
    rms_db = _db(energy, float(samples)) if samples else None
    if rms_db is None or energy == 0:
        out.append(Check(stem, "silent", False, None, "digital silence" if samples else "no audio in the file"))
    else:
        loud = rms_db > silent_db
        message = f"RMS {rms_db:.1f} dBFS" + ("" if loud else f": silent or nearly (below {silent_db:g} dBFS)")
        out.append(Check(stem, "silent", loud, round(rms_db, 2), message))
    message = "no clipped samples" if clipped == 0 else f"{clipped} samples at or beyond full scale"
    out.append(Check(stem, "clipped", clipped == 0, float(clipped), message))
    return out
