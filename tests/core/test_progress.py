"""Progress reporting: rich bars on a terminal, log lines elsewhere; totals estimated for compressed inputs."""

from __future__ import annotations

import io
from pathlib import Path

from audio_playground.cli.progress import ProgressReporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def info(self, event: str, **kw: object) -> None:
        self.lines.append(("info", event, kw))

    def debug(self, event: str, **kw: object) -> None:
        self.lines.append(("debug", event, kw))


def test_bars_on_a_terminal() -> None:
    screen = _Terminal()
    log = _Log()
    reporter = ProgressReporter(log, bars=True, stream=screen)
    reporter.files(2)
    reporter.ap_chunk_done(step="separate", path=Path("a.wav"), index=0, total=3, seconds=0.1)
    reporter.ap_progress(step="convert", path=Path("a.wav"), done=1.0, total=2.0)
    reporter.ap_progress(step="convert", path=Path("a.wav"), done=2.0, total=2.0)
    reporter.ap_step_finished(step="separate", result=None, seconds=1.0, cached=False)
    reporter.file_done()
    reporter.close()
    text = screen.getvalue()
    assert "separate a.wav" in text
    assert "all files" in text
    assert ("debug", "step finished") in [(level, event) for level, event, _ in log.lines]


def test_log_lines_elsewhere() -> None:
    log = _Log()
    reporter = ProgressReporter(log, bars=True, stream=io.StringIO())
    assert not reporter.bars
    reporter.files(3)
    reporter.ap_step_started(step="separate", inputs={"src": "a.wav"})
    reporter.ap_chunk_done(step="separate", path=None, index=1, total=None, seconds=0.25)
    reporter.ap_progress(step="convert", path=None, done=1.0, total=None)
    reporter.ap_step_failed(step="separate", error=RuntimeError("x"))
    reporter.ap_step_finished(step="separate", result=None, seconds=1.0, cached=True)
    events = [(level, event) for level, event, _ in log.lines]
    assert ("info", "chunk done") in events
    assert ("info", "step finished") in events
    assert ("debug", "step failed") in events


def test_estimated_frames_for_compressed_input(tmp_path: Path) -> None:
    from audio_playground.audio import open_audio
    from audio_playground.audio.demo import make_demo

    path = make_demo(tmp_path / "d.m4a", seconds=2.0, sample_rate=16000, video=False)
    with open_audio(path) as stream:
        assert stream.frames is None
        assert abs(stream.estimated_frames - 32000) < 2048
    with open_audio(path, end=1.0, sample_rate=8000) as window:
        assert window.estimated_frames == 8000
    with open_audio(tmp_path / "d.m4a", start=0.5) as rest:
        assert rest.estimated_frames is not None and rest.estimated_frames < stream.estimated_frames
