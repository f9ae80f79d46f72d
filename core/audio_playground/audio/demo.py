"""A synthetic demo song (drums, bass, chords) as an mp4 video, with its true stems for quality tests.

The README's demo input: no download, no licence question, and because the stems are known exactly a
separator's output can be scored against them. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

TEMPO_BPM = 120.0
STEM_NAMES = ("drums", "bass", "harmony")
# Root notes of the bass line (Hz) and the chords above them (semitones from the chord root, root in Hz).
_BASS_NOTES = (55.0, 41.2, 49.0, 36.7)
_CHORDS = ((220.0, (0, 4, 7)), (164.8, (0, 3, 7)), (196.0, (0, 4, 7)), (146.8, (0, 4, 7, 10)))
_GAINS = {"drums": 0.45, "bass": 0.3, "harmony": 0.16}


def _envelope(phase: np.ndarray, length: np.ndarray | float, attack: float, release: float) -> np.ndarray:
    """A note envelope for time `phase` into a note of `length` seconds: linear attack and release."""
    import numpy as np

    rise = np.clip(phase / attack, 0.0, 1.0)
    fall = np.clip((length - phase) / release, 0.0, 1.0)
    return rise * fall


def _drums(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    beat = 60.0 / TEMPO_BPM
    # Kick on every beat: a sine falling from 145 Hz to 45 Hz (phase = integral of the frequency), fast decay.
    since = np.mod(t, beat)
    kick = np.sin(2 * np.pi * (45.0 * since + 100.0 * (1 - np.exp(-since * 30.0)) / 30.0))
    kick *= np.exp(-since * 18.0)
    # Snare on beats 2 and 4: a noise burst; hi-hat on every eighth: a short, quieter, brighter burst.
    noise = rng.standard_normal((2, t.size))
    snare = noise * np.exp(-np.mod(t - beat, 2 * beat) * 25.0) * 0.6
    bright = np.diff(noise, axis=1, prepend=0.0)
    hat = bright * np.exp(-np.mod(t, beat / 2) * 90.0) * 0.18
    hat[0] *= 0.7  # hats a little to the right
    return kick + snare + hat


def _bass(t: np.ndarray) -> np.ndarray:
    import numpy as np

    note_len = 2 * 60.0 / TEMPO_BPM
    index = (t // note_len).astype(int) % len(_BASS_NOTES)
    freq = np.asarray(_BASS_NOTES)[index]
    phase = np.mod(t, note_len)
    tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
    mono = tone * _envelope(phase, note_len, 0.01, 0.05)
    return np.stack([mono, mono])


def _harmony(t: np.ndarray) -> np.ndarray:
    import numpy as np

    chord_len = 4 * 60.0 / TEMPO_BPM
    index = (t // chord_len).astype(int) % len(_CHORDS)
    phase = np.mod(t, chord_len)
    env = _envelope(phase, chord_len, 0.08, 0.2)
    left = np.zeros_like(t)
    right = np.zeros_like(t)
    for k, (root, intervals) in enumerate(_CHORDS):
        mask = index == k
        if not mask.any():
            continue
        tt = t[mask]
        for j, semis in enumerate(intervals):
            f = root * 2.0 ** (semis / 12.0)
            voice = np.sin(2 * np.pi * f * tt) + 0.25 * np.sin(4 * np.pi * f * tt)
            pan = 0.5 + 0.35 * (j / max(len(intervals) - 1, 1) - 0.5) * 2
            left[mask] += voice * (1 - pan)
            right[mask] += voice * pan
    return np.stack([left, right]) * env


def make_demo_stems(seconds: float = 20.0, sample_rate: int = 44100, seed: int = 0) -> dict[str, np.ndarray]:
    """The demo song's true stems, {"drums", "bass", "harmony"}: float32 (2, frames); they sum to the mix."""
    import numpy as np

    frames = round(seconds * sample_rate)
    t = np.arange(frames, dtype=np.float64) / sample_rate
    rng = np.random.default_rng(seed)
    raw = {"drums": _drums(t, rng), "bass": _bass(t), "harmony": _harmony(t)}
    stems = {}
    for name, signal in raw.items():
        peak = float(np.max(np.abs(signal))) if signal.size else 0.0
        scaled = signal / peak * _GAINS[name] if peak > 0 else signal
        stems[name] = scaled.astype(np.float32)
    return stems


def make_demo_mix(seconds: float = 20.0, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """The demo song: the sum of make_demo_stems, float32 (2, frames), peak below full scale."""
    stems = make_demo_stems(seconds, sample_rate, seed)
    return stems["drums"] + stems["bass"] + stems["harmony"]


def make_demo(
    path: str | Path, seconds: float = 20.0, sample_rate: int = 44100, *, video: bool = True, seed: int = 0
) -> Path:
    """Write the demo song to `path` (atomically): AAC audio plus a tiny 64x64 video pulsing with the beat.

    A .m4a name, or video=False, gives an audio-only file.
    """
    import av
    import numpy as np

    from audio_playground.audio.tempfiles import remove_stale
    from audio_playground.audio.writer import _create_temp
    from audio_playground.errors import OutputError

    target = Path(path)
    with_video = video and target.suffix.lower() != ".m4a"
    mix = make_demo_mix(seconds, sample_rate, seed)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)  # what a killed run of this command left
        tmp = _create_temp(target)
    except OSError as exc:
        raise OutputError(
            f"cannot write ({exc.strerror or exc})", path=target, hint="choose a writable directory"
        ) from exc
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            audio = container.add_stream("aac", rate=sample_rate, layout="stereo")
            audio.bit_rate = 160_000
            vstream = None
            fps = 10
            if with_video:
                vstream = container.add_stream("mpeg4", rate=fps)
                vstream.width = vstream.height = 64
                vstream.pix_fmt = "yuv420p"
            block = 8192
            for start in range(0, mix.shape[1], block):
                chunk = np.ascontiguousarray(mix[:, start : start + block])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate = sample_rate
                frame.pts = start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode(None):
                container.mux(packet)
            if vstream is not None:
                beat = 60.0 / TEMPO_BPM
                yy, xx = np.mgrid[0:64, 0:64]
                for i in range(max(1, round(seconds * fps))):
                    t = i / fps
                    pulse = np.exp(-np.mod(t, beat) * 6.0)
                    radius = 8 + 20 * pulse
                    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < radius**2
                    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
                    rgb[..., 0] = np.where(disc, 230, 20)
                    rgb[..., 1] = np.where(disc, int(80 + 100 * pulse), 20)
                    rgb[..., 2] = np.where(disc, 60, 40)
                    vframe = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                    vframe.pts = i
                    for packet in vstream.encode(vframe):
                        container.mux(packet)
                for packet in vstream.encode(None):
                    container.mux(packet)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
