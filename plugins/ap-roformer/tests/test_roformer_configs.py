"""Configs shaped like the published ones: safe loading, architecture, key mapping, stems, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ap_roformer.configs import ConfigFileError, load_config, parse_config, read_yaml
from ap_roformer.testing import tiny_bs_config, write_config
from audio_playground.errors import ExitStatus

# The layout of viperx's model_bs_roformer_ep_317_sdr_12.9755.yaml (Music-Source-Separation-Training's
# configs/viperx/), at a small size: the same sections, keys, comments and !!python/tuple tags.
BS_YAML = """\
audio:
  chunk_size: 352800
  dim_f: 1024
  dim_t: 801 # don't work (use in model)
  hop_length: 441 # don't work (use in model)
  n_fft: 2048
  num_channels: 2
  sample_rate: 44100
  min_mean_abs: 0.000

model:
  dim: 16
  depth: 1
  stereo: true
  num_stems: 1
  time_transformer_depth: 1
  freq_transformer_depth: 1
  linear_transformer_depth: 0
  freqs_per_bands: !!python/tuple
    - 512
    - 513
  dim_head: 8
  heads: 2
  attn_dropout: 0.1
  ff_dropout: 0.1
  flash_attn: true
  dim_freqs_in: 1025
  stft_n_fft: 2048
  stft_hop_length: 441
  stft_win_length: 2048
  stft_normalized: false
  mask_estimator_depth: 2
  multi_stft_resolution_loss_weight: 1.0
  multi_stft_resolutions_window_sizes: !!python/tuple
  - 4096
  - 2048
  multi_stft_hop_size: 147
  multi_stft_normalized: False

training:
  batch_size: 2
  instruments:
  - vocals
  - other
  target_instrument: vocals
  use_amp: true # enable or disable usage of mixed precision (float16) - usually it must be true

inference:
  batch_size: 4
  dim_t: 801
  num_overlap: 2
"""

# The layout of model_mel_band_roformer_ep_3005_sdr_11.4360.yaml (num_bands, sample_rate in the model).
MEL_YAML = """\
audio:
  chunk_size: 352800
  num_channels: 2
  sample_rate: 44100
model:
  dim: 16
  depth: 1
  stereo: true
  num_stems: 1
  time_transformer_depth: 1
  freq_transformer_depth: 1
  linear_transformer_depth: 0
  num_bands: 60
  dim_head: 8
  heads: 2
  flash_attn: True
  dim_freqs_in: 1025
  sample_rate: 44100  # needed for mel filter bank from librosa
  stft_n_fft: 2048
  stft_hop_length: 441
  stft_win_length: 2048
  mask_estimator_depth: 2
training:
  instruments:
  - vocals
  - other
  target_instrument: vocals
inference:
  num_overlap: 2
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_published_bs_roformer_layout(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BS_YAML))
    assert config.architecture == "bs_roformer" and config.title == "BS-RoFormer"
    assert config.kwargs["freqs_per_bands"] == (512, 513)
    assert config.kwargs["multi_stft_resolutions_window_sizes"] == (4096, 2048)
    assert "linear_transformer_depth" not in config.kwargs and config.dropped == ("linear_transformer_depth",)
    assert (config.sample_rate, config.chunk_size, config.num_overlap, config.channels) == (44100, 352800, 2, 2)
    assert config.model_stems == ("vocals",) and config.stems == ("vocals", "other")
    assert not config.normalize


def test_published_mel_band_roformer_layout(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MEL_YAML))
    assert config.architecture == "mel_band_roformer" and config.title == "Mel-Band RoFormer"
    assert config.kwargs["num_bands"] == 60 and config.kwargs["linear_transformer_depth"] == 0
    assert config.kwargs["sample_rate"] == 44100 and config.dropped == ()


def test_lists_become_tuples_and_mel_gets_the_audio_rate(tmp_path: Path) -> None:
    text = MEL_YAML.replace("  sample_rate: 44100  # needed for mel filter bank from librosa\n", "")
    text = text.replace("  sample_rate: 44100\nmodel", "  sample_rate: 48000\nmodel")
    text = text.replace("  linear_transformer_depth: 0\n", "")
    config = load_config(write(tmp_path, text))
    assert config.kwargs["sample_rate"] == 48000 == config.sample_rate
    assert config.kwargs["linear_transformer_depth"] == 0  # Music-Source-Separation-Training's default
    listed = BS_YAML.replace("freqs_per_bands: !!python/tuple", "freqs_per_bands:")
    assert load_config(write(tmp_path, listed)).kwargs["freqs_per_bands"] == (512, 513)


def test_written_configs_read_back(tmp_path: Path) -> None:
    path = write_config(tiny_bs_config(), tmp_path / "tiny.yaml")
    assert "!!python/tuple" in path.read_text()
    assert load_config(path).kwargs["freqs_per_bands"][-2:] == (128, 129)


def test_stems_from_instruments_and_target(tmp_path: Path) -> None:
    data = read_yaml(write(tmp_path, BS_YAML))
    data["training"] = {"instruments": ["vocals", "drums", "bass"], "target_instrument": "vocals"}
    assert parse_config(data, tmp_path / "x.yaml").stems == ("vocals", "no_vocals")
    data["training"] = {"instruments": ["vocals", "drums"], "target_instrument": None}
    data["model"]["num_stems"] = 2
    config = parse_config(data, tmp_path / "x.yaml")
    assert config.stems == config.model_stems == ("vocals", "drums")
    data["training"] = {"instruments": ["vocals"]}
    data["model"]["num_stems"] = 1
    assert parse_config(data, tmp_path / "x.yaml").stems == ("vocals", "no_vocals")


def test_normalize_and_explicit_model_type(tmp_path: Path) -> None:
    data = read_yaml(write(tmp_path, BS_YAML))
    data["inference"]["normalize"] = True
    data["model_type"] = "BS RoFormer".replace(" ", "")
    config = parse_config(data, tmp_path / "x.yaml")
    assert config.normalize and config.architecture == "bs_roformer"
    data = read_yaml(write(tmp_path, MEL_YAML))
    data["architecture"] = "mel_band_roformer"
    assert parse_config(data, tmp_path / "x.yaml").architecture == "mel_band_roformer"


def test_training_only_options_are_dropped_and_fixed_ones_checked(tmp_path: Path) -> None:
    data = read_yaml(write(tmp_path, BS_YAML))
    data["model"].update(use_torch_checkpoint=True, sage_attention=False, skip_connection=False, mlp_expansion_factor=4)
    config = parse_config(data, tmp_path / "x.yaml")
    assert set(config.dropped) == {
        "linear_transformer_depth",
        "use_torch_checkpoint",
        "skip_connection",
        "mlp_expansion_factor",
    }
    for key, value in (("skip_connection", True), ("mlp_expansion_factor", 2), ("linear_transformer_depth", 1)):
        bad = read_yaml(write(tmp_path, BS_YAML))
        bad["model"][key] = value
        with pytest.raises(ConfigFileError, match=f"model.{key}: .* is not supported"):
            parse_config(bad, tmp_path / "x.yaml")


def errors_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.exit_code == ExitStatus.USAGE
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_unknown_architecture(tmp_path: Path) -> None:
    assert "unknown architecture 'htdemucs'" in errors_of(tmp_path, "model_type: htdemucs\n" + BS_YAML)
    no_bands = BS_YAML.replace("  freqs_per_bands: !!python/tuple\n    - 512\n    - 513\n", "")
    assert "neither freqs_per_bands" in errors_of(tmp_path, no_bands)


def test_keys_that_do_not_fit(tmp_path: Path) -> None:
    assert "model.num_channels is not an option" in errors_of(
        tmp_path, BS_YAML.replace("  dim: 16\n", "  dim: 16\n  num_channels: 2\n")
    )
    assert "model.dim is missing" in errors_of(tmp_path, BS_YAML.replace("  dim: 16\n", ""))
    assert "audio.chunk_size must be a positive integer" in errors_of(tmp_path, BS_YAML.replace("352800", "-1"))
    assert "audio.chunk_size must be a positive integer" in errors_of(tmp_path, BS_YAML.replace("352800", "big"))
    assert "num_stems is 2" in errors_of(tmp_path, BS_YAML.replace("num_stems: 1", "num_stems: 2"))
    assert "not in training.instruments" in errors_of(
        tmp_path, BS_YAML.replace("target_instrument: vocals", "target_instrument: bass")
    )
    assert "names a stem twice" in errors_of(
        tmp_path, BS_YAML.replace("  - other\n  target_instrument: vocals", "  - vocals\n  target_instrument: vocals")
    )
    assert "instruments is missing" in errors_of(
        tmp_path, BS_YAML.replace("  - vocals\n  - other\n", "  []\n").replace("instruments:\n  []", "instruments: []")
    )
    assert "must be a list of stem names" in errors_of(
        tmp_path, BS_YAML.replace("  instruments:\n  - vocals\n  - other\n", "  instruments: vocals\n")
    )
    assert "section is not a mapping" in errors_of(tmp_path, "model: 3\n")
    assert "no mapping at the top" in errors_of(tmp_path, "- a\n- b\n")


def test_the_safe_loader_refuses_python_objects_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = f"!!python/object/apply:os.system ['touch {marker}']\n"
    assert "safe loader" in errors_of(tmp_path, evil)
    assert "safe loader" in errors_of(
        tmp_path, BS_YAML.replace("dim: 16", f"dim: !!python/object/apply:os.system ['touch {marker}']")
    )
    assert not marker.exists()


def test_unreadable_config(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigFileError, match="cannot read the config"):
        load_config(path)
