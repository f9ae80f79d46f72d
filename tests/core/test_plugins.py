"""Discovery: built-ins, a third-party plugin installed from tests/fixtures, a broken plugin, the allow-list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audio_playground.plugins import build_plugin_manager, get_plugin_manager, reset_plugin_manager
from tests.conftest import install_into

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ap-hello"


def test_builtins_registered_like_plugins() -> None:
    pm = build_plugin_manager(load_entry_points=False)
    names = {r.name for r in pm.records}
    assert "audio_playground.hpss" in names
    assert all(r.builtin and r.distribution == "audio-playground" for r in pm.records)
    separators = [s.name for group in pm.hook.ap_separators() for s in group]
    assert "hpss" in separators


def test_get_plugin_manager_is_shared() -> None:
    assert get_plugin_manager() is get_plugin_manager()
    first = get_plugin_manager()
    reset_plugin_manager()
    assert get_plugin_manager() is not first


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the ap-hello fixture plugin (and a broken one) into a private --target folder."""
    target = tmp_path_factory.mktemp("site")
    install_into(FIXTURE, target)
    broken = tmp_path_factory.mktemp("broken")
    shutil.copytree(FIXTURE, broken / "ap-broken")
    project = broken / "ap-broken"
    text = (project / "pyproject.toml").read_text()
    text = text.replace('name = "ap-hello"', 'name = "ap-broken"').replace('hello = "ap_hello"', 'broken = "ap_broken"')
    text = text.replace('packages = ["ap_hello"]', 'packages = ["ap_broken"]')
    (project / "pyproject.toml").write_text(text)
    (project / "ap_hello").rename(project / "ap_broken")
    (project / "ap_broken" / "__init__.py").write_text("raise ImportError('needs a library that is missing')\n")
    install_into(project, target)
    return target


def _ap(target: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_LOAD")}
    environ["PYTHONPATH"] = os.pathsep.join([str(target), environ.get("PYTHONPATH", "")])
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "audio_playground", *args],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )


def test_third_party_plugin_is_discovered(installed: Path, tmp_path: Path) -> None:
    listing = _ap(installed, "plugins", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    records = {r["name"]: r for r in json.loads(listing.stdout)}
    hello = records["hello"]
    assert (hello["distribution"], hello["version"]) == ("ap-hello", "1.2.3")
    assert hello["hooks"] == ["ap_register_commands", "ap_separators"]
    assert "needs a library that is missing" in records["broken"]["error"]
    # its command
    said = _ap(installed, "hello", "--name", "ap")
    assert said.stdout.strip() == "hello ap"
    # its separator, as a generated extract command with its own option
    help_text = _ap(installed, "extract", "gain", "--help").stdout
    assert "--gain" in help_text


def test_third_party_separator_runs(installed: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    src = tmp_path / "in.wav"
    sf.write(str(src), np.full((22050, 1), 0.5, np.float32), 22050, subtype="FLOAT")
    result = _ap(installed, "extract", "gain", str(src), "-o", str(tmp_path / "out"), "--gain", "0.25")
    assert result.returncode == 0, result.stderr
    loud, _ = sf.read(str(tmp_path / "out" / "loud-gain.wav"), dtype="float32")
    assert np.allclose(loud, 0.125, atol=1e-6)


def test_allow_list_limits_plugins(installed: Path) -> None:
    listing = _ap(installed, "plugins", "list", "--json", AUDIO_PLAYGROUND_LOAD_PLUGINS="hello")
    names = {r["name"] for r in json.loads(listing.stdout)}
    assert "hello" in names
    assert "broken" not in names
    none = _ap(installed, "plugins", "list", "--json", AUDIO_PLAYGROUND_LOAD_PLUGINS="")
    assert not {"hello", "broken"} & {r["name"] for r in json.loads(none.stdout)}
