"""Reference-free checks and layout discovery of `audio_playground.evaluation` on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_playground.audio.demo import make_demo_stems
from audio_playground.errors import InputError, UsageError
from audio_playground.evaluation import Check, Track, check_track, discover
from tests.conftest import write_wav

RATE = 8000


def _stems(seconds: float = 3.0) -> dict[str, np.ndarray]:
    return make_demo_stems(seconds, RATE)


def _write_track(folder: Path, stems: dict[str, np.ndarray], *, suffix: str = "", mix: bool = True) -> Path:
    for name, audio in stems.items():
        write_wav(folder / f"{name}{suffix}.wav", audio, RATE, subtype="FLOAT")
    if mix:
        write_wav(folder / "mixture.wav", sum(stems.values()), RATE, subtype="FLOAT")
    return folder


def _by(checks: list[Check]) -> dict[tuple[str | None, str], Check]:
    return {(c.stem, c.name): c for c in checks}


def test_package_exports_the_contract() -> None:
    from audio_playground import evaluation

    assert evaluation.evaluate.__module__ == "audio_playground.evaluation.report"
    assert evaluation.EvalReport([]).to_dict() == {"tracks": [], "median": {}}


def test_clean_track_passes_every_check(tmp_path: Path) -> None:
    [track] = discover(_write_track(tmp_path / "song", _stems()))
    assert track.name == "song" and set(track.stems) == {"drums", "bass", "harmony"}
    checks = check_track(track)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = {c.name for c in checks}
    assert names == {"sum_error_db", "silent", "clipped", "length", "rate"}
    total = _by(checks)[(None, "sum_error_db")]
    assert total.value is not None and total.value < -100
    assert Check(None, "x", True, 1.0, "m").to_dict() == {
        "stem": None,
        "name": "x",
        "ok": True,
        "value": 1.0,
        "message": "m",
    }


def test_checks_catch_silent_clipped_and_non_summing_stems(tmp_path: Path) -> None:
    stems = _stems()
    mix = sum(stems.values())
    bad = dict(stems)
    bad["bass"] = stems["bass"] * 1e-5  # near-silent, and the sum no longer matches the mix
    bad["drums"] = np.clip(stems["drums"] * 4.0, -1.0, 1.0)  # clipped
    folder = _write_track(tmp_path / "song", bad, mix=False)
    write_wav(folder / "mixture.wav", mix, RATE, subtype="FLOAT")
    checks = _by(check_track(discover(folder)[0]))
    assert not checks[("bass", "silent")].ok and "silent" in checks[("bass", "silent")].message
    assert checks[("drums", "silent")].ok
    assert not checks[("drums", "clipped")].ok and checks[("drums", "clipped")].value > 0
    assert checks[("bass", "clipped")].ok
    total = checks[(None, "sum_error_db")]
    assert not total.ok and total.value is not None and total.value > -30
    assert "do not add up" in total.message


def test_digital_silence_length_and_rate(tmp_path: Path) -> None:
    stems = _stems(2.0)
    folder = tmp_path / "song"
    write_wav(folder / "a.wav", stems["bass"], RATE)
    write_wav(folder / "b.wav", np.zeros_like(stems["bass"]), RATE)
    write_wav(folder / "c.wav", stems["drums"][:, :-100], RATE)
    write_wav(folder / "d.wav", stems["drums"][:, ::2], RATE // 2)
    write_wav(folder / "e.wav", np.concatenate([stems["drums"], stems["drums"][:, :400]], axis=1), RATE)
    write_wav(folder / "f.wav", stems["drums"][:, : RATE - 200 : 2], RATE // 2)
    checks = _by(check_track(discover(folder)[0]))
    assert checks[("b", "silent")].message == "digital silence" and checks[("b", "silent")].value is None
    assert not checks[("c", "length")].ok and "100 frames shorter than the a stem" in checks[("c", "length")].message
    assert not checks[("e", "length")].ok and "longer" in checks[("e", "length")].message
    assert not checks[("d", "rate")].ok and checks[("d", "length")].ok
    assert not checks[("f", "length")].ok and "lasts" in checks[("f", "length")].message
    assert checks[(None, "sum_error_db")].value is None and "--mix" in checks[(None, "sum_error_db")].message


def test_sum_check_needs_matching_rate_and_silent_mix(tmp_path: Path) -> None:
    stems = _stems(1.0)
    folder = tmp_path / "song"
    write_wav(folder / "bass.wav", stems["bass"][:1], RATE)
    write_wav(folder / "mixture.wav", stems["bass"], RATE)
    [track] = discover(folder)
    assert not _by(check_track(track))[(None, "sum_error_db")].ok
    write_wav(folder / "mixture.wav", np.zeros((1, RATE), np.float32), RATE)
    total = _by(check_track(track))[(None, "sum_error_db")]
    assert total.ok and total.message == "the mix is digital silence"
    # a stem longer than the mix: the excess counts as error
    write_wav(folder / "mixture.wav", stems["bass"][:1, : RATE // 2], RATE)
    total = _by(check_track(track))[(None, "sum_error_db")]
    assert not total.ok
    assert check_track(Track("empty", {})) == []


def test_layouts(tmp_path: Path) -> None:
    stems = _stems(1.0)
    # our multi-input outputs: {track}/{stem}-{suffix}.wav; MUSDB: {track}/{stem}.wav beside mixture.wav
    _write_track(tmp_path / "ours" / "one", stems, suffix="-demucs", mix=False)
    _write_track(tmp_path / "ours" / "two", stems, suffix="-demucs", mix=False)
    (tmp_path / "ours" / "run-manifest.jsonl").write_text("{}\n")
    (tmp_path / "ours" / "notes").mkdir()
    tracks = discover(tmp_path / "ours")
    assert [t.name for t in tracks] == ["one", "two"]
    assert set(tracks[0].stems) == {"drums", "bass", "harmony"} and tracks[0].mix is None
    _write_track(tmp_path / "musdb" / "song", stems)
    [song] = discover(tmp_path / "musdb")
    assert song.mix == tmp_path / "musdb" / "song" / "mixture.wav"
    # a flat single track; names with dashes keep them when no suffix is shared
    write_wav(tmp_path / "flat" / "hi-hat.wav", stems["drums"], RATE)
    write_wav(tmp_path / "flat" / "bass.wav", stems["bass"], RATE)
    [flat] = discover(tmp_path / "flat", mix=tmp_path / "musdb" / "song" / "mixture.wav")
    assert set(flat.stems) == {"hi-hat", "bass"} and flat.mix is not None
    # --mix as a folder of mixtures named after the tracks, or holding a track folder's mixture
    mixes = tmp_path / "mixes"
    write_wav(mixes / "one.wav", sum(stems.values()), RATE)
    write_wav(mixes / "two" / "mixture.wav", sum(stems.values()), RATE)
    found = discover(tmp_path / "ours", mix=mixes)
    assert [t.mix for t in found] == [mixes / "one.wav", mixes / "two" / "mixture.wav"]
    single = tmp_path / "single"
    write_wav(single / "anything.wav", sum(stems.values()), RATE)
    assert discover(tmp_path / "flat", mix=single)[0].mix == single / "anything.wav"
    assert discover(tmp_path / "flat", mix=tmp_path / "musdb" / "song")[0].mix == song.mix


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        discover(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        discover(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no audio files") as info:
        discover(tmp_path / "empty")
    assert info.value.exit_code == 2
    stems = _stems(1.0)
    write_wav(tmp_path / "dup" / "bass.wav", stems["bass"], RATE)
    write_wav(tmp_path / "dup" / "bass.flac", stems["bass"], RATE)
    with pytest.raises(UsageError, match="two files for the stem 'bass'"):
        discover(tmp_path / "dup")
    _write_track(tmp_path / "many" / "a", stems, mix=False)
    _write_track(tmp_path / "many" / "b", stems, mix=False)
    with pytest.raises(UsageError, match="one mixture file for 2 tracks"):
        discover(tmp_path / "many", mix=tmp_path / "dup" / "bass.wav")
    with pytest.raises(InputError, match="no such mixture"):
        discover(tmp_path / "many", mix=tmp_path / "nope.wav")
    with pytest.raises(InputError, match="no mixture for the track 'a'"):
        discover(tmp_path / "many", mix=tmp_path / "empty")


def test_non_audio_file_with_an_audio_name(tmp_path: Path) -> None:
    folder = tmp_path / "song"
    folder.mkdir()
    (folder / "vocals.wav").write_bytes(b"this is not a wav file at all")
    with pytest.raises(InputError, match="not an audio file") as info:
        check_track(discover(folder)[0])
    assert info.value.exit_code == 2 and "vocals.wav" in str(info.value)
