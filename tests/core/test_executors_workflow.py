"""`ap run` on the local executor's worker processes: one item per INPUT, the whole workflow on a worker."""

from __future__ import annotations

from pathlib import Path

from audio_playground.errors import ExitStatus
from audio_playground.executors import read_manifest
from tests.conftest import noise, write_wav

WORKFLOW = """version: "1.0"
vars:
  out: out
steps:
  - name: sep
    command: extract hpss
    args:
      inputs: ${input}
      output-dir: ${vars.out}/${input.stem}
"""


def test_run_on_worker_processes_matches_this_process(ap, tmp_path: Path, isolated: Path) -> None:
    folder = tmp_path / "in"
    for i in range(3):
        write_wav(folder / f"w{i}.wav", noise(2, 6000, seed=i), 16000)
    (folder / "bad.wav").write_text("no")
    flow = isolated / "flow.yaml"
    flow.write_text(WORKFLOW)
    serial = ap("run", "--config", flow, folder, "--var", "out=serial")
    assert serial.code == ExitStatus.FAILURE
    pooled = ap("run", "--config", flow, folder, "--var", "out=pooled", "-j", "2", "--output-dir", "m")
    assert pooled.code == ExitStatus.FAILURE, pooled.err
    assert "1 of 4 inputs failed" in pooled.err
    records = read_manifest(isolated / "m")
    assert sorted(r["status"] for r in records.values()) == ["done", "done", "done", "failed"]
    bad = records[str(folder / "bad.wav")]
    assert "step 'sep'" in bad["error"] and "\n" not in bad["error"]
    good = records[str(folder / "w1.wav")]
    assert good["step"] == "run" and good["outputs"]["sep.stems.harmonic"].endswith("pooled/w1/harmonic-hpss.wav")
    for i in range(3):
        for stem in ("harmonic", "percussive"):
            name = f"w{i}/{stem}-hpss.wav"
            assert (isolated / "serial" / name).read_bytes() == (isolated / "pooled" / name).read_bytes()


def test_run_batch_needs_inputs_and_no_report(ap, tmp_path: Path, isolated: Path) -> None:
    flow = isolated / "flow.yaml"
    flow.write_text('version: "1.0"\nsteps:\n  - name: c\n    command: config show\n')
    result = ap("run", "--config", flow, "-j", "2")
    assert result.code == ExitStatus.USAGE and "runs once, here" in result.err
    song = write_wav(tmp_path / "s.wav", noise(1, 4000), 16000)
    flow.write_text(WORKFLOW)
    result = ap("run", "--config", flow, song, "-j", "2", "--report")
    assert result.code == ExitStatus.USAGE and "--report needs" in result.err


def test_workflow_task_in_this_process(tmp_path: Path, isolated: Path) -> None:
    from audio_playground.executors.batch import run_batch
    from audio_playground.executors.workflow import WorkflowTask
    from audio_playground.specs import WorkItem

    song = write_wav(tmp_path / "s.wav", noise(2, 4000), 16000)
    flow = isolated / "flow.yaml"
    flow.write_text(WORKFLOW)
    task = WorkflowTask(
        workflow=str(flow), output_dir=str(isolated / "m"), cwd=str(isolated), variables={"out": "here"}
    )
    assert task.model_name() is None and not task.uses_gpu and task.output_options()["vars"] == {"out": "here"}
    summary = run_batch(task, iter([WorkItem(0, str(song), "s")]), total=1)
    assert summary.done == 1 and (isolated / "here" / "s" / "harmonic-hpss.wav").is_file()
    record = read_manifest(isolated / "m")[str(song)]
    assert record["worker"].startswith("local:") and record["audio_seconds"] == 0.25
    assert WorkflowTask(workflow=str(tmp_path / "gone.yaml"), output_dir="", cwd="").fingerprint()
