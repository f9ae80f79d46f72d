"""Config layers: command line > environment > .env > --config TOML > defaults, one test per layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_playground.config import AudioPlaygroundConfig, load_config
from audio_playground.errors import ConfigError


def test_defaults() -> None:
    config = load_config()
    assert config.window_size == 10.0
    assert config.device == "auto"
    assert config.log_level == "INFO"


def test_config_file_beats_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "ap.toml"
    toml.write_text('window_size = 4.5\ndevice = "cpu"\n')
    config = load_config(toml)
    assert (config.window_size, config.device) == (4.5, "cpu")


def test_dotenv_beats_config_file(tmp_path: Path) -> None:
    toml = tmp_path / "ap.toml"
    toml.write_text('device = "cpu"\n')
    Path(".env").write_text("AUDIO_PLAYGROUND_DEVICE=mps\n")
    assert load_config(toml).device == "mps"


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("AUDIO_PLAYGROUND_DEVICE=mps\n")
    monkeypatch.setenv("AUDIO_PLAYGROUND_DEVICE", "cuda:1")
    assert load_config().device == "cuda:1"


def test_command_line_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_PLAYGROUND_DEVICE", "cuda:1")
    assert load_config(device="cpu").device == "cpu"
    # None means "not given on the command line"; 0 is a real value.
    assert load_config(device=None).device == "cuda:1"
    assert load_config(overlap=0.0).overlap == 0.0


def test_bad_values_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("window_size = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    monkeypatch.setenv("AUDIO_PLAYGROUND_WINDOW_SIZE", "-3")
    with pytest.raises(ConfigError, match="window_size"):
        load_config()


def test_every_field_has_a_description() -> None:
    for name, field in AudioPlaygroundConfig.model_fields.items():
        assert field.description, name


def test_pydantic_settings_reads_only_when_a_layer_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    # conftest sets AUDIO_PLAYGROUND_CACHE_DIR, a field: without it and with only non-fields, the plain model.
    monkeypatch.delenv("AUDIO_PLAYGROUND_CACHE_DIR")
    assert type(load_config(device="cpu")) is AudioPlaygroundConfig
    assert type(load_config()) is AudioPlaygroundConfig  # AUDIO_PLAYGROUND_LOAD_PLUGINS is no field
    monkeypatch.setenv("audio_playground_device", "mps")  # names match in any case
    layered = load_config()
    assert isinstance(layered, AudioPlaygroundConfig) and type(layered) is not AudioPlaygroundConfig
    assert layered.device == "mps"
