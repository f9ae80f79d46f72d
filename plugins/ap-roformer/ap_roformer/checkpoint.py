"""Checkpoints: find the pair, load weights without unpickling code, map keys, build the bs-roformer network.

Loading is never a full unpickle: `.safetensors` files load with safetensors, everything else with
`torch.load(..., weights_only=True)`, whose unpickler builds tensors and plain containers only. A checkpoint
that needs more (a pickled class or function) is refused with one line, and its payload never runs.

Key mapping, from the layout Music-Source-Separation-Training and python-audio-separator save to the
bs-roformer package's module tree:
- wrappers: a dict under "state_dict", "state" or "model" is unwrapped; a "module." prefix (DataParallel)
  is removed;
- Mel-Band RoFormer with `linear_transformer_depth: 0`: those tools keep [time, freq] transformers per
  layer (`layers.N.0`, `layers.N.1`), the package keeps [None, time, freq] (`layers.N.1`, `layers.N.2`);
- rotary embeddings' `freqs` are fixed (not learned) and rebuilt by the package: a checkpoint without them
  loads.
Any other key that is missing, unexpected or of another shape is refused, naming the first few.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ap_roformer.configs import CONFIG_SUFFIXES, ConfigFileError, RoformerConfig, load_config

if TYPE_CHECKING:
    import torch

CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt", ".th", ".bin", ".safetensors")
WRAPPERS = ("state_dict", "state", "model")
ROTARY = re.compile(r"(^|\.)rotary_embed\.freqs$")
MEL_LAYER = re.compile(r"^layers\.(\d+)\.(\d+)\.")
GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
"""The Python object a weights-only load refused to import, as torch names it."""


class CheckpointError(ConfigFileError):
    """A checkpoint that cannot be used (missing config, unsafe pickle, keys that do not fit): exit 2."""


@dataclass(frozen=True)
class ModelFiles:
    """A checkpoint and the YAML config it belongs to."""

    checkpoint: Path
    config: Path

    @property
    def name(self) -> str:
        return self.checkpoint.stem


# --------------------------------------------------------------------------- finding the pair


def is_checkpoint(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES


def config_beside(checkpoint: Path) -> Path | None:
    """The YAML next to a checkpoint: same stem (m.ckpt + m.yaml), or the folder's only YAML."""
    for suffix in CONFIG_SUFFIXES:
        candidate = checkpoint.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    yamls = [p for p in sorted(checkpoint.parent.iterdir()) if p.suffix.lower() in CONFIG_SUFFIXES]
    checkpoints = [p for p in checkpoint.parent.iterdir() if is_checkpoint(p)]
    return yamls[0] if len(yamls) == 1 and len(checkpoints) == 1 else None


def scan_folder(folder: Path) -> list[tuple[Path, Path | None]]:
    """Every checkpoint in `folder` (not recursive) with its config, or None where it has none."""
    return [(path, config_beside(path)) for path in sorted(folder.iterdir()) if is_checkpoint(path)]


def resolve_files(model: Path | None, config: Path | None) -> ModelFiles:
    """The checkpoint/config pair from --model FILE|DIR and --config FILE (UsageError when they do not make one)."""
    if model is None:
        raise CheckpointError(
            "--model is required", hint="pass --model FILE.ckpt --config FILE.yaml, or a folder holding the pair"
        )
    model = Path(model).expanduser()
    if model.is_dir():
        found = scan_folder(model)
        if not found:
            raise CheckpointError(
                "no checkpoint in this folder", path=model, hint=f"expected one of {', '.join(CHECKPOINT_SUFFIXES)}"
            )
        if len(found) > 1:
            names = ", ".join(p.name for p, _ in found)
            raise CheckpointError(f"several checkpoints here ({names})", path=model, hint="pass --model FILE")
        model = found[0][0]
    elif not model.is_file():
        raise CheckpointError("checkpoint not found", path=model, hint="pass --model FILE.ckpt or a folder")
    if config is None:
        config = config_beside(model)
        if config is None:
            raise CheckpointError(
                "checkpoint without its config: no YAML beside it",
                path=model,
                hint=f"pass --config FILE.yaml, or put {model.stem}.yaml next to it",
            )
    config = Path(config).expanduser()
    if not config.is_file():
        raise CheckpointError("config not found", path=config, hint="pass the YAML that came with the checkpoint")
    return ModelFiles(model, config)


# --------------------------------------------------------------------------- identity


_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, remembered per (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def identity(files: ModelFiles) -> str:
    """The cache identity: the architecture, the checkpoint's hash and the config's (stems and chunking)."""
    config = load_config(files.config)
    return f"roformer:{config.architecture}:{file_hash(files.checkpoint)[:32]}:{file_hash(files.config)[:16]}"


# --------------------------------------------------------------------------- loading weights


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, loaded without running pickled code; CheckpointError otherwise."""
    import pickle

    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"not a readable safetensors file ({_first(exc)})", path=path) from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = GLOBAL.search(str(exc))
        if wanted is None:
            raise CheckpointError("not a readable PyTorch checkpoint (a damaged or foreign file)", path=path) from exc
        raise CheckpointError(
            f"refused: this checkpoint needs a full unpickle, which can run code (it asks for {wanted[1]})",
            path=path,
            hint="use a checkpoint that holds only tensors (a state_dict), or its .safetensors version",
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"not a readable PyTorch checkpoint ({_first(exc)[:160]})", path=path) from exc
    return unwrap(data, path)


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def unwrap(data: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint's object (plain, or under state_dict/state/model), prefixes removed."""
    import torch

    for _ in range(3):
        if isinstance(data, Mapping) and not any(isinstance(v, torch.Tensor) for v in data.values()):
            inner = next((data[k] for k in WRAPPERS if isinstance(data.get(k), Mapping)), None)
            if inner is None:
                break
            data = inner
    if not isinstance(data, Mapping) or not data:
        raise CheckpointError("holds no state dict of tensors", path=path, hint="pass a RoFormer checkpoint")
    state = {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError("holds no tensors", path=path, hint="pass a RoFormer checkpoint")
    if all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state


def to_package_keys(state: Mapping[str, Any], config: RoformerConfig) -> dict[str, Any]:
    """Map a published checkpoint's keys to the bs-roformer package's (see the module docstring)."""
    if config.architecture != "mel_band_roformer" or int(config.kwargs.get("linear_transformer_depth", 1)) > 0:
        return dict(state)
    return {MEL_LAYER.sub(lambda m: f"layers.{m[1]}.{int(m[2]) + 1}.", key): value for key, value in state.items()}


def to_published_keys(state: Mapping[str, Any], config: RoformerConfig) -> dict[str, Any]:
    """The inverse of to_package_keys: the layout Music-Source-Separation-Training saves."""
    if config.architecture != "mel_band_roformer" or int(config.kwargs.get("linear_transformer_depth", 1)) > 0:
        return dict(state)
    return {MEL_LAYER.sub(lambda m: f"layers.{m[1]}.{int(m[2]) - 1}.", key): value for key, value in state.items()}


def build_network(config: RoformerConfig) -> Any:
    """The bs-roformer package's network for a config, randomly initialised (weights load after)."""
    import warnings

    import torch

    kwargs = dict(config.kwargs)
    if kwargs.get("flash_attn", True) and not hasattr(torch.backends.cuda, "sdp_kernel"):
        kwargs["flash_attn"] = False  # the package's fused path needs torch's sdp_kernel; the math is the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package probes its STFT size without a window
        try:
            if config.architecture == "bs_roformer":
                from bs_roformer import BSRoformer

                return BSRoformer(**kwargs)
            from bs_roformer import MelBandRoformer

            return MelBandRoformer(**kwargs)
        except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
            cause = " ".join(_first(exc).split())[:200] or type(exc).__name__
            raise ConfigFileError(
                f"the {config.title} options do not build a network ({cause})",
                path=config.path,
                hint="check the model section against the checkpoint's published config",
            ) from exc


def load_weights(network: Any, state: Mapping[str, Any], config: RoformerConfig, path: Path) -> None:
    """Load `state` (published layout) into `network` strictly, except for the rebuilt rotary freqs."""
    mapped = to_package_keys(state, config)
    expected = network.state_dict()
    missing = [key for key in expected if key not in mapped and not ROTARY.search(key)]
    unexpected = [key for key in mapped if key not in expected]
    wrong = [
        f"{key} {tuple(mapped[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in mapped and tuple(mapped[key].shape) != tuple(value.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} of another shape ({', '.join(wrong[:2])})")
    if problems:
        raise CheckpointError(
            f"its weights do not fit the {config.title} of {config.path.name}: keys " + "; ".join(problems),
            path=path,
            hint="pass the config that came with this checkpoint",
        )
    network.load_state_dict(mapped, strict=False)


def load_network(files: ModelFiles) -> tuple[Any, RoformerConfig]:
    """The network of a checkpoint/config pair, weights loaded, in eval mode, on the CPU."""
    config = load_config(files.config)
    network = build_network(config)
    load_weights(network, read_state(files.checkpoint), config, files.checkpoint)
    network.eval()
    return network, config
