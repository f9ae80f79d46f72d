"""The local executor through `ap extract` and `audio_playground.batch`: manifest, failures, reruns, -j workers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import audio_playground
import audio_playground.executors
from audio_playground.errors import ExitStatus, UsageError
from audio_playground.executors import MANIFEST_NAME, read_manifest
from audio_playground.executors.batch import BatchContext, executors, run_batch
from audio_playground.executors.inputs import work_items
from audio_playground.executors.task import SeparateTask, SeparateWorker, check_inside, json_safe
from audio_playground.plugins import get_plugin_manager
from audio_playground.specs import WorkItem
from tests.conftest import noise, write_wav

CONTRACT_KEYS = {
    "input",
    "track",
    "status",
    "outputs",
    "seconds",
    "audio_seconds",
    "worker",
    "error",
    "step",
    "separator",
    "model",
    "backend",
    "options",
    "finished_at",
}


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    """Four short stereo inputs and a broken one in a folder."""
    folder = tmp_path / "songs"
    for i in range(4):
        write_wav(folder / f"s{i}.wav", noise(2, 8000 + 500 * i, seed=i), 16000)
    (folder / "broken.wav").write_text("not audio")
    return folder


def stems_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def test_several_inputs_write_the_manifest(ap, songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ap("extract", "hpss", songs, "-o", out, "--no-progress")
    assert result.code == ExitStatus.FAILURE
    assert "broken.wav" in result.err and "1 of 5 inputs failed" in result.err and MANIFEST_NAME in result.err
    records = read_manifest(out)
    assert len(records) == 5
    for record in records.values():
        assert set(record) >= CONTRACT_KEYS
        assert record["worker"] == f"local:{os.getpid()}" and record["step"] == "separate"
        assert record["separator"] == "hpss" and record["model"] is None and record["backend"] == "numpy"
    broken = records[str(songs / "broken.wav")]
    assert broken["status"] == "failed" and "broken.wav" in broken["error"] and "\n" not in broken["error"]
    good = records[str(songs / "s1.wav")]
    assert good["status"] == "done" and good["error"] is None and good["audio_seconds"] == 0.5312
    assert set(good["outputs"]) == {"harmonic", "percussive"}
    assert good["outputs"]["harmonic"] == str(out / "s1" / "harmonic-hpss.wav")
    assert all(Path(p).is_file() for p in good["outputs"].values())
    assert not (out / "broken").exists()


def test_rerun_skips_finished_inputs_and_retry_runs_only_failures(ap, songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert ap("extract", "hpss", songs, "-o", out).code == ExitStatus.FAILURE
    first = stems_of(out)
    again = ap("extract", "hpss", songs, "-o", out, "--log-format", "json")
    assert again.code == ExitStatus.FAILURE
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert len(lines) == 10
    assert sorted(r["status"] for r in lines[5:]) == ["cached"] * 4 + ["failed"]
    assert {r["worker"] for r in lines[5:] if r["status"] == "cached"} == {"manifest"}
    assert stems_of(out) == first
    events = [json.loads(line) for line in again.err.splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "input finished"]
    assert len(finished) == 5 and finished[-1]["done"] == 5 and finished[-1]["of"] == 5
    # an input that changed after its run runs again
    write_wav(songs / "s0.wav", noise(2, 8000, seed=9), 16000)
    os.utime(songs / "s0.wav", (2e9, 2e9))
    # fix the broken input; --retry-failed runs only it
    write_wav(songs / "broken.wav", noise(2, 4000, seed=7), 16000)
    retry = ap("extract", "hpss", "-o", out, "--retry-failed", "--no-progress")
    assert retry.code == 0, retry.err
    records = read_manifest(out)
    assert all(r["status"] != "failed" for r in records.values())
    assert records[str(songs / "broken.wav")]["status"] == "done"
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 11
    assert ap("extract", "hpss", "-o", out, "--retry-failed").code == ExitStatus.USAGE
    rerun = ap("extract", "hpss", songs, "-o", out, "--no-progress")
    assert rerun.code == 0
    statuses = [json.loads(line)["status"] for line in (out / MANIFEST_NAME).read_text().splitlines()[11:]]
    assert statuses.count("done") == 1 and statuses.count("cached") == 4
    # other options: nothing is reused
    other = ap("extract", "hpss", songs, "-o", out, "--kernel-size", "9", "--no-progress")
    assert other.code == 0
    statuses = [json.loads(line)["status"] for line in (out / MANIFEST_NAME).read_text().splitlines()[16:]]
    assert statuses == ["done"] * 5


def test_workers_write_the_same_bytes_as_this_process(ap, songs: Path, tmp_path: Path) -> None:
    (songs / "broken.wav").unlink()
    one, two = tmp_path / "one", tmp_path / "two"
    assert ap("extract", "hpss", songs, "-o", one, "--no-progress").code == 0
    result = ap("extract", "hpss", songs, "-o", two, "-j", "2", "--no-progress")
    assert result.code == 0, result.err
    assert stems_of(one) == stems_of(two) and len(stems_of(two)) == 8
    workers = {r["worker"] for r in read_manifest(two).values()}
    assert all(w.startswith("local:") and w != f"local:{os.getpid()}" for w in workers)


def test_manifest_inputs_stream_and_bad_lines_fail_alone(ap, songs: Path, tmp_path: Path) -> None:
    listing = tmp_path / "library.csv"
    listing.write_text("path,genre\n" + "".join(f"songs/s{i}.wav,x\n" for i in range(2)) + "songs/gone.wav,x\nsongs\n")
    out = tmp_path / "out"
    result = ap("extract", "hpss", "--manifest", listing, "-o", out, "--no-progress")
    assert result.code == ExitStatus.FAILURE
    records = read_manifest(out)
    assert records[str(songs / "gone.wav")]["error"].endswith("no such file. fix or drop this line of the manifest.")
    assert "is a folder" in records[str(songs)]["error"]
    assert [records[str(songs / f"s{i}.wav")]["status"] for i in range(2)] == ["done", "done"]
    assert "2 of 4 inputs failed" in result.err


def test_recursive_keeps_the_layout_and_clashing_tracks_fail(ap, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_wav(lib / "a" / "intro.wav", noise(1, 4000), 16000)
    write_wav(lib / "b" / "intro.wav", noise(1, 4000, seed=1), 16000)
    out = tmp_path / "out"
    assert ap("extract", "hpss", lib, "-r", "-o", out, "--no-progress").code == 0
    assert (out / "a" / "intro" / "harmonic-hpss.wav").is_file()
    assert (out / "b" / "intro" / "percussive-hpss.wav").is_file()
    clash = ap("extract", "hpss", lib / "a" / "intro.wav", lib / "b" / "intro.wav", "-o", tmp_path / "c")
    assert clash.code == ExitStatus.FAILURE
    assert "has the track name 'intro'" in clash.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "ray"], "the 'ray' executor is not installed. install ap-ray (pip install ap-ray)"),
        (["--executor", "nope"], "unknown executor 'nope'. installed: local"),
        (["--address", "127.0.0.1:6379"], "--address '127.0.0.1:6379' needs an executor that joins a cluster"),
        (["--filename", "../{track}/{stem}.wav"], "leaves the output folder"),
        (["--filename", "{stem}.wav"], "needs {track} with several inputs"),
    ],
)
def test_bad_batch_options_are_usage_errors(ap, songs: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = ap("extract", "hpss", songs, "-o", tmp_path / "o", *args)
    assert result.code == ExitStatus.USAGE, result.err
    assert message in result.err.strip().splitlines()[-1]


def test_no_input_is_a_usage_error(ap, tmp_path: Path) -> None:
    result = ap("extract", "hpss", "-o", tmp_path / "o")
    assert result.code == ExitStatus.USAGE and "no input given" in result.err


def test_one_input_on_the_executor_path_returns_its_result(ap, songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ap("extract", "hpss", songs / "s0.wav", "-o", out, "--address", "x", "--executor", "local")
    assert result.code == ExitStatus.USAGE
    listing = tmp_path / "one.txt"
    listing.write_text(str(songs / "s0.wav") + "\n")
    ok = ap("extract", "hpss", "--manifest", listing, "-o", out, "--no-progress")
    assert ok.code == 0 and (out / "s0" / "harmonic-hpss.wav").is_file()


def test_config_picks_the_executor_and_the_workers(ap, songs: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUDIO_PLAYGROUND_EXECUTOR", "nope")
    assert "unknown executor 'nope'" in ap("extract", "hpss", songs, "-o", tmp_path / "o").err
    monkeypatch.setenv("AUDIO_PLAYGROUND_EXECUTOR", "local")
    monkeypatch.setenv("AUDIO_PLAYGROUND_JOBS", "2")
    monkeypatch.setenv("AUDIO_PLAYGROUND_DEVICE", "cuda")
    (songs / "broken.wav").unlink()
    result = ap("extract", "hpss", songs, "-o", tmp_path / "o", "--no-progress")
    assert result.code == 0, result.err
    assert "-j 2 is for separators on the CPU; cuda runs one worker" in result.err
    assert {r["worker"] for r in read_manifest(tmp_path / "o").values()} == {f"local:{os.getpid()}"}


def test_python_batch_api(songs: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    summary = audio_playground.batch(
        [songs], tmp_path / "out", "hpss", options={"kernel_size": 9}, on_record=lambda r, s: seen.append(r["status"])
    )
    assert (summary.done, summary.cached, summary.failed, summary.total) == (4, 0, 1, 5)
    assert not summary.ok and summary.failures[0][0] == str(songs / "broken.wav")
    assert [r.source.name for r in summary.results] == ["s0.wav", "s1.wav", "s2.wav", "s3.wav"]
    assert sorted(seen) == ["done"] * 4 + ["failed"]
    assert read_manifest(tmp_path / "out")[str(songs / "s0.wav")]["options"]["kernel_size"] == 9
    again = audio_playground.batch([songs], tmp_path / "out", "hpss", options={"kernel_size": 9}, retry_failed=True)
    assert (again.done, again.failed) == (0, 1)
    listing = tmp_path / "l.txt"
    listing.write_text(f"{songs / 's0.wav'}\n")
    streamed = audio_playground.batch(manifest=listing, output_dir=tmp_path / "m", cache=False)
    assert streamed.results is None and streamed.done == 1
    with pytest.raises(UsageError, match="leaves the output folder"):
        audio_playground.batch([songs], tmp_path / "x", filename="/abs/{track}/{stem}.wav")


def test_a_killed_worker_process_is_replaced_and_its_items_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "long"
    for i in range(4):
        write_wav(folder / f"l{i}.wav", noise(2, 16000 * 4, seed=i), 16000)
    task = SeparateTask("hpss", str(tmp_path / "out"), "{track}/{stem}-{suffix}.{ext}", cache=False)
    items, total = work_items([folder])
    killed: list[int] = []

    def on_record(record, summary) -> None:
        if not killed:  # kill the other worker, busy with its first item
            pid = int(record["worker"].split(":")[1])
            others = [p for p in _pool_pids() if p != pid]
            if others:
                killed.append(others[0])
                os.kill(others[0], signal.SIGKILL)

    summary = run_batch(task, items, total=total, workers=2, on_record=on_record)
    assert killed and summary.failed == 0 and summary.done == 4
    assert sorted(p.name for p in (tmp_path / "out").glob("*/*")) == sorted(
        f"{stem}-hpss.wav" for _ in range(4) for stem in ("harmonic", "percussive")
    )


def _pool_pids() -> list[int]:
    import multiprocessing

    return [p.pid for p in multiprocessing.active_children() if p.pid is not None]


def test_worker_and_task_helpers(tmp_path: Path) -> None:
    assert json_safe({"p": Path("/x"), "t": (1, 2), "o": ValueError("e")}) == {
        "p": "/x",
        "t": [1, 2],
        "o": "e",
    }
    check_inside("{track}/{stem}.wav")
    for bad in ("/abs/{stem}.wav", "a/../../{stem}.wav", "\\{stem}.wav"):
        with pytest.raises(UsageError):
            check_inside(bad)
    task = SeparateTask("hpss", str(tmp_path), "{track}-{stem}.{ext}", options={"model": "m", "threads": 2})
    assert task.model_name() == "m" and not task.uses_gpu
    assert task.fingerprint() != SeparateTask("hpss", str(tmp_path), "{track}-{stem}.{ext}").fingerprint()
    quiet = SeparateTask("hpss", str(tmp_path), "{track}-{stem}.{ext}", options={"threads": 1}, ignored=("threads",))
    assert quiet.fingerprint() == SeparateTask("hpss", str(tmp_path), "{track}-{stem}.{ext}").fingerprint()
    assert set(executors(get_plugin_manager())) == {"local"}
    assert audio_playground.executors.run_batch is run_batch
    with pytest.raises(AttributeError):
        _ = audio_playground.executors.nothing
    ctx = BatchContext(task=SeparateTask("hpss", str(tmp_path), "{track}-{stem}.{ext}"), pm=get_plugin_manager())
    worker = ctx.local_worker()
    record = worker(WorkItem(0, str(tmp_path / "missing.wav"), "missing"))
    assert record["status"] == "failed" and "no such file" in record["error"]
    assert not record["model_loaded"]
    remote = SeparateWorker(ctx.task, label="test:1")
    assert remote.base_record(WorkItem(0, "/x.wav", "x"))["worker"] == "test:1"


def test_ctrl_c_stops_with_the_manifest_true_to_what_finished(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i in range(6):
        write_wav(folder / f"c{i}.wav", noise(1, 4000, seed=i), 16000)
    task = SeparateTask("hpss", str(tmp_path / "out"), "{track}/{stem}-{suffix}.{ext}", cache=False)
    items, total = work_items([folder])

    def on_record(record, summary) -> None:
        if summary.finished == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(task, items, total=total, on_record=on_record)
    records = read_manifest(tmp_path / "out")
    assert len(records) == 2 and all(r["status"] == "done" for r in records.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c0", "c1", MANIFEST_NAME]
