"""A real Ray: a head started once per session with `ray start --head --block` on 127.0.0.1 with 2 CPUs
(stopped at the end by signalling that one process, never `ray stop`, which would stop every Ray here)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_helpers import write_wav

from audio_playground.plugins import reset_plugin_manager

SETTINGS = {
    # the same auth mode on both sides: a local ray.init() would otherwise turn token auth on for later clusters
    "RAY_AUTH_MODE": "disabled",
    # every listener on 127.0.0.1 (ap sets this itself too; the head started here needs it in its environment)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "AUDIO_PLAYGROUND_LOAD_PLUGINS": "ray",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in list(os.environ):
        if key.startswith("AUDIO_PLAYGROUND_"):
            monkeypatch.delenv(key)
    for key, value in SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    yield work
    reset_plugin_manager()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Head:
    """A Ray head on 127.0.0.1 for this session."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        env = {**os.environ, **SETTINGS}
        ray = Path(sys.executable).with_name("ray")
        self.log = (tmp / "ray-head.log").open("w")
        self.process = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--num-cpus",
                "2",
                "--include-dashboard",
                "false",
                "--disable-usage-stats",
                "--temp-dir",
                str(tmp / "ray"),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"ray start failed: {(tmp / 'ray-head.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        raise RuntimeError("ray start did not listen within 60 s")

    def stop(self) -> None:
        """SIGTERM to `ray start --block` stops the processes it started; then its whole session, to be sure."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    # /tmp paths: Ray's socket names must stay short
    tmp = Path(f"/tmp/ap-ray-{os.getpid()}")
    tmp.mkdir(exist_ok=True)
    started = Head(tmp)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 short stereo inputs, 3 of them broken."""
    folder = tmp_path_factory.mktemp("library")
    for i in range(40):
        if i in (5, 17, 33):
            (folder / f"t{i:02d}.wav").write_bytes(b"RIFF broken")
        else:
            write_wav(folder / f"t{i:02d}.wav", 0.25, seed=i)
    return folder
