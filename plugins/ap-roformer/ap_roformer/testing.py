"""Write RoFormer checkpoints with random weights and their configs, for tests and benchmarks (no download).

    python -m ap_roformer.testing DIR          tiny_bs (BS-RoFormer, target vocals: vocals + other) and
                                               tiny_mel (Mel-Band RoFormer: bass, drums, other, vocals)
    python -m ap_roformer.testing DIR --full   also full_bs: the published BS-RoFormer shape (viperx's
                                               ep_317 config: dim 512, depth 12, 8 s chunks)

Each model is `NAME.ckpt` + `NAME.yaml`, as Music-Source-Separation-Training writes them: the checkpoint is
`torch.save(model.state_dict())` in that tool's key layout, the config has its audio/model/training/inference
sections (with `!!python/tuple` where it writes tuples). Then
`ap extract roformer song.wav --model DIR/tiny_bs.ckpt --config DIR/tiny_bs.yaml ...`.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FREQS_PER_BANDS = (
    (2,) * 24 + (4,) * 12 + (12,) * 8 + (24,) * 8 + (48,) * 8 + (128, 129)
)  # the published BS-RoFormer band split of 1025 STFT bins
MULTI_STFT = (4096, 2048, 1024, 512, 256)
STEMS_4 = ["bass", "drums", "other", "vocals"]


def _model_section(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "dim": 16,
        "depth": 1,
        "stereo": True,
        "num_stems": 1,
        "time_transformer_depth": 1,
        "freq_transformer_depth": 1,
        "linear_transformer_depth": 0,
        "dim_head": 8,
        "heads": 2,
        "attn_dropout": 0.1,
        "ff_dropout": 0.1,
        "flash_attn": True,
        "dim_freqs_in": 1025,
        "stft_n_fft": 2048,
        "stft_hop_length": 441,
        "stft_win_length": 2048,
        "stft_normalized": False,
        "mask_estimator_depth": 2,
        "multi_stft_resolution_loss_weight": 1.0,
        "multi_stft_resolutions_window_sizes": MULTI_STFT,
        "multi_stft_hop_size": 147,
        "multi_stft_normalized": False,
    }
    base.update(overrides)
    return base


def config_dict(
    architecture: str,
    *,
    instruments: Sequence[str],
    target: str | None,
    chunk_size: int,
    num_overlap: int = 2,
    **model: Any,
) -> dict[str, Any]:
    """A config in the published layout; `model` overrides the small network's options."""
    if architecture == "bs_roformer":
        section = _model_section(**{"freqs_per_bands": FREQS_PER_BANDS, **model})
    else:
        section = _model_section(num_bands=16, sample_rate=44100, **{"mask_estimator_depth": 1, **model})
    section["num_stems"] = 1 if target is not None else len(instruments)
    training: dict[str, Any] = {"batch_size": 1, "instruments": list(instruments), "target_instrument": target}
    return {
        "audio": {
            "chunk_size": chunk_size,
            "dim_f": 1024,
            "dim_t": 801,
            "hop_length": 441,
            "n_fft": 2048,
            "num_channels": 2 if section["stereo"] else 1,
            "sample_rate": 44100,
            "min_mean_abs": 0.0,
        },
        "model": section,
        "training": training,
        "inference": {"batch_size": 1, "dim_t": 801, "num_overlap": num_overlap},
    }


def tiny_bs_config(chunk_size: int = 22050) -> dict[str, Any]:
    """A small BS-RoFormer shaped like viperx's vocals model: one target (vocals), instruments vocals/other."""
    return config_dict("bs_roformer", instruments=["vocals", "other"], target="vocals", chunk_size=chunk_size)


def tiny_mel_config(chunk_size: int = 22050) -> dict[str, Any]:
    """A small Mel-Band RoFormer with four stems and no target, like the published multi-stem configs."""
    return config_dict("mel_band_roformer", instruments=STEMS_4, target=None, chunk_size=chunk_size)


def full_bs_config() -> dict[str, Any]:
    """The published BS-RoFormer vocals model's shape (model_bs_roformer_ep_317_sdr_12.9755.yaml)."""
    return config_dict(
        "bs_roformer",
        instruments=["vocals", "other"],
        target="vocals",
        chunk_size=352800,
        dim=512,
        depth=12,
        dim_head=64,
        heads=8,
    )


def build_random(config: dict[str, Any], path: Path, seed: int = 0) -> Any:
    """The network of `config` with seeded random weights (path names the config in error messages)."""
    import torch

    from ap_roformer.checkpoint import build_network
    from ap_roformer.configs import parse_config

    torch.manual_seed(seed)
    parsed = parse_config(copy.deepcopy(config), path)
    return build_network(parsed), parsed


def _atomic(path: Path, write: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_config(config: dict[str, Any], path: Path) -> Path:
    """Write a config as those tools' YAML (PyYAML's default dumper: tuples as !!python/tuple), atomically."""
    import yaml

    text = yaml.dump(config, sort_keys=False)
    return _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_model(directory: Path, name: str, config: dict[str, Any], seed: int = 0) -> tuple[Path, Path]:
    """NAME.ckpt (state_dict, published key layout) + NAME.yaml in `directory`; returns both paths."""
    import torch

    from ap_roformer.checkpoint import to_published_keys

    config_path = write_config(config, directory / f"{name}.yaml")
    network, parsed = build_random(config, config_path, seed)
    state = to_published_keys({k: v.detach().clone() for k, v in network.state_dict().items()}, parsed)
    checkpoint = _atomic(directory / f"{name}.ckpt", lambda tmp: torch.save(state, tmp))
    return checkpoint, config_path


def write_test_models(directory: str | Path, *, full: bool = False, seed: int = 0) -> dict[str, tuple[Path, Path]]:
    """Write the test models into `directory` (created if needed); returns {name: (checkpoint, config)}."""
    root = Path(directory)
    written = {
        "tiny_bs": write_model(root, "tiny_bs", tiny_bs_config(), seed),
        "tiny_mel": write_model(root, "tiny_mel", tiny_mel_config(), seed + 1),
    }
    if full:
        written["full_bs"] = write_model(root, "full_bs", full_bs_config(), seed + 2)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the models and list what was written."""
    parser = argparse.ArgumentParser(prog="python -m ap_roformer.testing", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="folder to write the checkpoints and configs into")
    parser.add_argument("--full", action="store_true", help="also write full_bs, the published BS-RoFormer shape")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args(argv)
    for name, (checkpoint, config) in write_test_models(args.directory, full=args.full, seed=args.seed).items():
        print(f"{name}\t{checkpoint}\t{config}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
