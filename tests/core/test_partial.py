"""Temporary files a SIGKILLed run leaves beside its outputs are removed by the next run; live ones are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio_playground.audio import tempfiles
from audio_playground.audio.writer import AudioWriter
from tests.conftest import write_wav
from tests.core.media import tone

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and process ids")

# A process that opens a writer (clip=rescale: two temporary files), writes, says so, and waits to be killed.
HOLDER = """
import sys, time
import numpy as np
from audio_playground.audio.writer import AudioWriter
w = AudioWriter(sys.argv[1], 8000, 1, clip="rescale")
w.write(np.zeros((1, 8000), np.float32))
print("ready", flush=True)
time.sleep(60)
"""


def _partials(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name)


def _hold(target: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_writer_temps_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    proc = _hold(target)
    _kill(proc)
    left = _partials(tmp_path)
    assert len(left) == 2  # the file and the rescale pass's raw samples
    assert all(f"-{proc.pid}-" in name for name in left)
    with AudioWriter(target, 8000, 1) as writer:
        assert _partials(tmp_path) == [writer._tmp.name]
        writer.write(np.zeros((1, 10), np.float32))
        writer.commit()
    assert _partials(tmp_path) == []
    assert target.exists()


def test_live_writer_temps_and_other_targets_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    proc = _hold(target)
    try:
        held = _partials(tmp_path)
        other = tmp_path / ".other.wav.partial-host-1-abcd"  # another target's: not ours to judge
        foreign = tmp_path / ".out.wav.partial-elsewhere-999999-abcd"  # another host's
        legacy = tmp_path / ".out.wav.partial-abcd1234"  # a name without an owner
        for path in (other, foreign, legacy):
            path.write_bytes(b"x")
        with AudioWriter(target, 8000, 1) as writer:
            writer.write(np.zeros((1, 10), np.float32))
            writer.commit()
        assert set(held) <= set(_partials(tmp_path))
        assert {other.name, foreign.name, legacy.name} <= set(_partials(tmp_path))
    finally:
        _kill(proc)
    assert tempfiles.remove_stale(target) and set(_partials(tmp_path)) == {other.name, foreign.name, legacy.name}


def test_pid_alive() -> None:
    assert tempfiles.pid_alive(os.getpid())
    assert not tempfiles.pid_alive(0)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not tempfiles.pid_alive(proc.pid)


def test_unreadable_directory_is_left_alone(tmp_path: Path) -> None:
    assert tempfiles.remove_stale(tmp_path / "missing" / "x.wav") == []


def test_killed_cli_run_leaves_temps_that_the_rerun_removes(tmp_path: Path) -> None:
    """The issue's case: `ap extract hpss` SIGKILLed mid-run; the rerun (which resumes) leaves no temp files."""
    src = write_wav(tmp_path / "song.wav", tone(2, 44100 * 40, 44100), 44100)
    out = tmp_path / "stems"
    env = {**os.environ, "AUDIO_PLAYGROUND_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "audio_playground", "extract", "hpss", str(src), "-o", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out.exists() and _partials(out)) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert _partials(out)
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _partials(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["harmonic-hpss.wav", "percussive-hpss.wav"]
