"""The ray executor on a real Ray: a head started by `ray start` (the session fixture) and the default instance."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from ray_helpers import write_wav

import audio_playground
from ap_ray.executor import check_reachable, plan
from audio_playground.cli import run as ap
from audio_playground.errors import ExitStatus, UsageError
from audio_playground.executors import MANIFEST_NAME, read_manifest
from audio_playground.executors.task import SeparateTask

BROKEN = {"t05.wav", "t17.wav", "t33.wav"}


DRIVER = """
import resource, sys, time
import audio_playground
started = time.perf_counter()
summary = audio_playground.batch(manifest=sys.argv[1], output_dir=sys.argv[2], executor="ray", address=sys.argv[3])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(summary.done, summary.cached, summary.failed, round(time.perf_counter() - started, 1), round(peak, 1))
"""
RSS_BOUND_MB = 300


def test_a_10000_line_manifest_streams_through_a_bounded_driver(head, tmp_path: Path, monkeypatch) -> None:
    """10,000 lines through the driver: 100 tiny files (hard links of one 10 ms file, all but the first few served
    by the cache by content) and 9,900 lines naming files that are not there, each a failed record: every line
    is a round trip through an actor and a manifest record, at a cost this shared test machine can afford
    (bench_batch.py rss runs 10,000 real files). It runs first on the session's head: measured after the other
    tests' batches on the same head, the driver once peaked at 317 MB (RESULTS.md)."""
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "ray,cache-fs")
    base = write_wav(tmp_path / "base.wav", 0.01, seed=3, rate=8000)
    folder = tmp_path / "lib"
    folder.mkdir()
    listing = tmp_path / "library.txt"
    with listing.open("w") as handle:
        for i in range(10_000):
            if i % 100 == 0:
                os.link(base, folder / f"t{i:05d}.wav")
            handle.write(f"lib/t{i:05d}.wav\n")
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(listing), str(tmp_path / "out"), head.address],
        capture_output=True,
        text=True,
        check=True,
        env=_untraced_env(),
    ).stdout.split()
    done, cached, failed, _seconds, peak = int(out[0]), int(out[1]), int(out[2]), float(out[3]), float(out[4])
    assert (done + cached, failed) == (100, 9_900) and cached >= 90
    assert peak <= RSS_BOUND_MB, f"driver peak RSS {peak} MB"
    assert len(read_manifest(tmp_path / "out")) == 10_000


def stems_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


@pytest.fixture(scope="module")
def reference(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local executor's outputs for the library: what every Ray run must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("reference")
    summary = audio_playground.batch([library], out, "hpss", cache=False)
    assert (summary.done, summary.failed) == (37, 3)
    return out


def check_batch(out: Path, library: Path, reference: Path) -> dict[str, dict]:
    assert stems_of(out) == stems_of(reference) and len(stems_of(out)) == 74
    records = read_manifest(out)
    failed = {Path(k).name: r for k, r in records.items() if r["status"] == "failed"}
    assert set(failed) == BROKEN
    for record in failed.values():
        assert record["error"].startswith(str(library)) and "\n" not in record["error"]
        assert "cannot open" in record["error"]
    assert all(r["worker"].startswith("ray:") for r in records.values())
    return records


def test_cluster_batch_is_byte_identical_to_local(head, library: Path, reference: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = ap(["extract", "hpss", str(library), "-o", str(out), "--executor", "ray", "--address", head.address])
    assert code == ExitStatus.FAILURE
    assert "3 of 40 inputs failed" in capsys.readouterr().err
    records = check_batch(out, library, reference)
    assert len({r["worker"] for r in records.values()}) == 2  # two actors, one per CPU of the head


def test_default_instance_is_byte_identical_and_listens_on_loopback_only(
    library: Path, reference: Path, tmp_path: Path
) -> None:
    import ray

    seen: list[str] = []

    def listeners(record, summary) -> None:
        if not seen:
            seen.extend(_listening_addresses(_ray_pids()))

    summary = audio_playground.batch(
        [library], tmp_path / "out", "hpss", executor="ray", cache=False, on_record=listeners
    )
    assert (summary.done, summary.failed) == (37, 3)
    check_batch(tmp_path / "out", library, reference)
    assert seen and all(map(_loopback, seen)), seen
    assert not ray.is_initialized()  # the instance this run started is gone


def test_head_started_by_the_fixture_listens_on_loopback_only(head) -> None:
    pids = {head.process.pid, *(c.pid for c in psutil.Process(head.process.pid).children(recursive=True))}
    addresses = _listening_addresses(pids)
    assert any(a.endswith(f":{head.port}") for a in addresses)
    assert all(map(_loopback, addresses)), addresses


def test_a_killed_worker_is_retried_and_the_batch_completes(head, tmp_path: Path) -> None:
    folder = tmp_path / "long"
    write_wav(folder / "a0.wav", 0.1, seed=99)  # the first record comes early, while the other worker is busy
    for i in range(1, 6):
        write_wav(folder / f"l{i}.wav", 4.0, seed=100 + i)
    local = audio_playground.batch([folder], tmp_path / "local", "hpss", cache=False)
    assert local.done == 6
    killed: list[int] = []

    def kill_the_other(record, summary) -> None:
        if not killed:
            killed.extend(_kill_busy_worker(head, int(record["worker"].rsplit(":", 1)[1])))

    summary = audio_playground.batch(
        [folder], tmp_path / "out", "hpss", executor="ray", address=head.address, cache=False, on_record=kill_the_other
    )
    assert killed, "no RayWorker process was found to kill"
    assert (summary.done, summary.failed) == (6, 0)
    assert stems_of(tmp_path / "out") == stems_of(tmp_path / "local")
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.suffix != ".wav"]
    assert all(p.name == MANIFEST_NAME or ".partial-" in p.name for p in leftovers)
    workers = {r["worker"] for r in read_manifest(tmp_path / "out").values()}
    assert not any(w.endswith(f":{killed[0]}") for w in workers) or len(workers) >= 2


def test_without_retries_the_killed_item_fails_alone(head, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AP_RAY_TASK_RETRIES", "0")
    folder = tmp_path / "long"
    write_wav(folder / "a0.wav", 0.1, seed=399)
    for i in range(1, 4):
        write_wav(folder / f"k{i}.wav", 4.0, seed=400 + i)
    killed: list[int] = []
    trigger: list[str] = []

    def kill_the_other(record, summary) -> None:
        if not killed:
            trigger.append(record["input"])
            killed.extend(_kill_busy_worker(head, int(record["worker"].rsplit(":", 1)[1])))

    summary = audio_playground.batch(
        [folder], tmp_path / "out", "hpss", executor="ray", address=head.address, cache=False, on_record=kill_the_other
    )
    # which item the kill hits depends on which actor started first; never the one that had just finished
    assert killed and (summary.done, summary.failed) == (3, 1)
    assert summary.failures[0][0] != trigger[0]
    assert "its Ray worker died (1 tries; " in summary.failures[0][1]
    assert read_manifest(tmp_path / "out")[summary.failures[0][0]]["worker"] == "ray"


def _kill_busy_worker(head, finished: int) -> list[int]:
    """SIGKILL the other RayWorker actor of this session's head (never a Ray process of anyone else here)."""
    for proc in psutil.Process(head.process.pid).children(recursive=True):
        try:
            title = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if proc.pid != finished and "RayWorker" in title:
            os.kill(proc.pid, signal.SIGKILL)
            return [proc.pid]
    return []


def test_rerun_is_served_by_the_cache_without_loading_the_model(head, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "ray,cache-fs")
    folder = tmp_path / "in"
    for i in range(4):
        write_wav(folder / f"c{i}.wav", 0.5, seed=200 + i)
    first = audio_playground.batch([folder], tmp_path / "out", "hpss", executor="ray", address=head.address)
    assert first.done == 4
    again = audio_playground.batch([folder], tmp_path / "out", "hpss", executor="ray", address=head.address)
    assert (again.cached, again.done, again.failed) == (4, 0, 0)
    records = read_manifest(tmp_path / "out")
    assert all(r["status"] == "cached" and not r["model_loaded"] for r in records.values())
    assert all(r["worker"].startswith("ray:") for r in records.values())


def test_manifest_lines_that_are_not_files_fail_alone(head, tmp_path: Path) -> None:
    song = write_wav(tmp_path / "song.wav", 0.25, seed=1)
    listing = tmp_path / "list.jsonl"
    listing.write_text(f'{{"path": "{song}"}}\n{{"path": "gone.wav"}}\n')
    summary = audio_playground.batch(
        manifest=listing, output_dir=tmp_path / "out", executor="ray", address=head.address, cache=False
    )
    assert (summary.done, summary.failed) == (1, 1)
    assert summary.failures[0][1].endswith("no such file. fix or drop this line of the manifest.")


def test_unreachable_address_is_one_line_and_exit_2_within_10_s(tmp_path: Path, capsys) -> None:
    song = write_wav(tmp_path / "a.wav", 0.1, seed=1)
    started = time.monotonic()
    code = ap(
        ["extract", "hpss", str(song), "-o", str(tmp_path / "o"), "--executor", "ray", "--address", "127.0.0.1:9"]
    )
    err = capsys.readouterr().err
    assert code == ExitStatus.USAGE and time.monotonic() - started < 10
    assert err.strip().splitlines() == [
        "error: cannot reach a Ray cluster at 127.0.0.1:9 (Connection refused). "
        "start one with `ray start --head`, or fix --address."
    ]
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        check_reachable("nowhere")


def test_loopback_predicate() -> None:
    assert _loopback("127.0.0.1:1") and _loopback("[::1]:2") and _loopback("[::ffff:127.0.0.1]:3")
    assert not any(map(_loopback, ["0.0.0.0:1", "*:2", "[::]:3", "10.0.0.5:4"]))


def test_plan_asks_for_fractions_when_workers_outnumber_slots(tmp_path: Path) -> None:
    cpu = SeparateTask("hpss", str(tmp_path), "{track}/{stem}.wav")
    assert plan(cpu, None, {"CPU": 2.0}) == (2, 1.0, 0.0)
    assert plan(cpu, 4, {"CPU": 2.0}) == (4, 0.5, 0.0)
    gpu = SeparateTask("demucs", str(tmp_path), "{track}/{stem}.wav", device="cuda")
    assert plan(gpu, None, {"CPU": 8.0, "GPU": 2.0}) == (2, 1.0, 1.0)
    assert plan(gpu, 4, {"CPU": 2.0, "GPU": 1.0}) == (4, 0.5, 0.25)


def test_ap_help_does_not_import_ray() -> None:
    code = "import sys; from audio_playground.cli import run; run(['--help']); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def _ray_pids() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        text = " ".join([proc.info["name"] or "", *(proc.info["cmdline"] or ())])
        if re.search(r"gcs_server|raylet|ray::|ray/_private|dashboard|log_monitor", text):
            found.add(proc.info["pid"])
    return found


def _loopback(address: str) -> bool:
    """127.0.0.1:PORT, [::1]:PORT or [::ffff:127.0.0.1]:PORT; never 0.0.0.0, *, [::] or an interface's address."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _listening_addresses(pids: set[int]) -> list[str]:
    """Local addresses of the TCP listeners of `pids`, from `ss -ltnpH`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    addresses = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            addresses.append(line.split()[3])
    return addresses


def _untraced_env() -> dict[str, str]:
    """This environment without coverage's subprocess hooks: a traced driver is not the driver users run."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}


def test_ap_run_on_the_cluster(head, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    for i in range(3):
        write_wav(folder / f"w{i}.wav", 0.25, seed=300 + i)
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        'version: "1.0"\nsteps:\n  - name: sep\n    command: extract hpss\n    args:\n'
        f"      inputs: ${{input}}\n      output-dir: {tmp_path}/out/${{input.stem}}\n      no-cache: true\n"
    )
    args = ["run", "--config", str(flow), str(folder), "--executor", "ray", "--address", head.address]
    code = ap([*args, "--output-dir", str(tmp_path / "m")])
    assert code == 0, capsys.readouterr().err
    records = read_manifest(tmp_path / "m")
    assert len(records) == 3 and all(r["status"] == "done" and r["worker"].startswith("ray:") for r in records.values())
    assert (tmp_path / "out" / "w2" / "percussive-hpss.wav").is_file()


def test_a_script_already_connected_keeps_its_connection(head, tmp_path: Path) -> None:
    import ray

    ray.init(address=head.address, log_to_driver=False)
    try:
        song = write_wav(tmp_path / "in" / "s.wav", 0.25, seed=500)
        summary = audio_playground.batch([song.parent], tmp_path / "out", executor="ray", cache=False)
        assert summary.done == 1
        assert ray.is_initialized()  # the batch used the script's connection and left it open
    finally:
        ray.shutdown()
