"""Benchmark inputs shared by the bench_*.py scripts: the demo song looped to any length, generated once.

Files go to tests/benchmarks/_data/ (git-ignored) and are reused by later runs; each appears atomically.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "_data"
RATE = 44100


def looped_demo(path: Path, seconds: float) -> Path:
    """`seconds` of the demo song (a 20 s loop, stereo, 44.1 kHz) as 16-bit WAV/FLAC or 192 kb/s MP3, by suffix."""
    if path.exists():
        return path
    import numpy as np

    from audio_playground.audio.demo import make_demo_mix

    path.parent.mkdir(parents=True, exist_ok=True)
    loop = make_demo_mix(20.0, RATE)
    total = round(seconds * RATE)
    blocks = (loop[:, : min(loop.shape[1], total - start)] for start in range(0, total, loop.shape[1]))
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    if path.suffix in {".wav", ".flac"}:
        import soundfile as sf

        with sf.SoundFile(str(tmp), "w", RATE, 2, subtype="PCM_16", format=path.suffix[1:].upper()) as out:
            for block in blocks:
                out.write(block.T)
    else:
        import av

        with av.open(str(tmp), "w", format="mp3") as container:
            stream = container.add_stream("libmp3lame", rate=RATE, layout="stereo")
            stream.bit_rate = 192_000
            pts = 0
            for block in blocks:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="stereo")
                frame.sample_rate = RATE
                frame.pts = pts
                pts += block.shape[1]
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    tmp.replace(path)
    return path
